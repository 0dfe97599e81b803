import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { AccessToken } from "../../src/dingtalk/AccessToken.js"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { DingTalkHttp, type JsonAnswer, type RecordedPost } from "../../src/dingtalk/DingTalkHttp.js"

/** A token endpoint that hands out `tok-1`, `tok-2` … valid for `expireIn` seconds, or answers from `override`. */
const tokenServer = (expireIn: number, override?: (n: number) => JsonAnswer | undefined) => {
  const sent: Array<RecordedPost> = []
  let issued = 0
  const layer = AccessToken.layer.pipe(
    Layer.provide(DingTalkHttp.layerTest(() => {
      issued++
      return override?.(issued) ?? { status: 200, body: { accessToken: `tok-${issued}`, expireIn } }
    }, sent)),
    Layer.provide(BridgeConfig.layerFrom({ DINGTALK_CLIENT_ID: "robot", DINGTALK_CLIENT_SECRET: "secret", DINGTALK_API_URL: "http://dingtalk.test" }))
  )
  return { sent, layer }
}

const token = AccessToken.use((t) => t.get).pipe(Effect.map(Redacted.value))

describe("AccessToken", () => {
  it.effect("one fetch serves concurrent callers until 5 minutes before expiry, then a new token is fetched", () => {
    const server = tokenServer(7200)
    return Effect.gen(function*() {
      const first = yield* Effect.all([token, token, token], { concurrency: "unbounded" })
      assert.deepStrictEqual(first, ["tok-1", "tok-1", "tok-1"])
      assert.strictEqual(server.sent.length, 1)
      assert.deepStrictEqual(server.sent[0]!.body, { appKey: "robot", appSecret: "secret" })
      yield* TestClock.adjust("114 minutes")
      assert.strictEqual(yield* token, "tok-1")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* token, "tok-2")
      assert.strictEqual(server.sent.length, 2)
    }).pipe(Effect.provide(server.layer))
  })

  it.effect("invalidate forgets the token (DingTalk rejected it): the next get fetches a fresh one", () => {
    const server = tokenServer(7200)
    return Effect.gen(function*() {
      assert.strictEqual(yield* token, "tok-1")
      yield* AccessToken.use((t) => t.invalidate)
      assert.strictEqual(yield* token, "tok-2")
    }).pipe(Effect.provide(server.layer))
  })

  it.effect("a refusal is an AccessTokenFailed naming the credentials, and is not cached", () => {
    const server = tokenServer(7200, (n) => (n === 1 ? { status: 400, body: { code: "invalidClientIdOrSecret" } } : undefined))
    return Effect.gen(function*() {
      const error = yield* token.pipe(Effect.flip)
      assert.strictEqual(error._tag, "AccessTokenFailed")
      assert.match(error.message, /DINGTALK_CLIENT_ID/)
      assert.strictEqual(yield* token, "tok-2")
    }).pipe(Effect.provide(server.layer))
  })
})
