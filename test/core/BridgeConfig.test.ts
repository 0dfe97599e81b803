import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import { configErrorReport } from "../../src/core/ConfigErrorReport.js"
import { BridgeConfigSchema, openCodeAuthHeader, robotCodeOf } from "../../src/core/BridgeConfig.js"

const parse = (env: Record<string, string>) => BridgeConfigSchema.parse(ConfigProvider.fromUnknown(env))
const required = { DINGTALK_CLIENT_ID: "ding1", DINGTALK_CLIENT_SECRET: "s3cret" }

describe("configuration", () => {
  it.effect("defaults follow the documented values", () =>
    Effect.gen(function*() {
      const settings = yield* parse(required)
      assert.strictEqual(settings.dingtalk.apiUrl, "https://api.dingtalk.com")
      assert.strictEqual(settings.opencode.serverUrl, "http://127.0.0.1:4096")
      assert.strictEqual(settings.pipeline.concurrency, 3)
      assert.strictEqual(settings.delivery.maxMessageBytes, 20_000)
      assert.strictEqual(settings.delivery.rateLimit, 20)
      assert.strictEqual(settings.dingtalk.reconnectBaseMs, 5_000)
      assert.strictEqual(settings.dingtalk.reconnectMaxAttempts, 10)
      assert.strictEqual(robotCodeOf(settings), "ding1")
      assert.isTrue(Option.isNone(openCodeAuthHeader(settings)))
      assert.strictEqual(String(settings.dingtalk.clientSecret).includes("s3cret"), false)
    }))

  it.effect("LOG_LEVEL accepts any capitalisation and lists are split on commas", () =>
    Effect.gen(function*() {
      for (const level of ["debug", "DEBUG", "Debug"]) assert.strictEqual((yield* parse({ ...required, LOG_LEVEL: level })).logging.level, "Debug")
      const settings = yield* parse({ ...required, DINGTALK_ALLOWED_USERS: " a, b,,c ", DINGTALK_API_URL: "http://127.0.0.1:9/" })
      assert.deepStrictEqual(settings.access.allowedUsers, ["a", "b", "c"])
      assert.strictEqual(settings.dingtalk.apiUrl, "http://127.0.0.1:9")
    }))

  it.effect("AI cards: on by default with DingTalk's general template, off on request, updates never faster than 200 ms", () =>
    Effect.gen(function*() {
      const defaults = (yield* parse(required)).cards
      assert.isTrue(defaults.enabled)
      assert.strictEqual(defaults.templateId, "02fcf2f4-5e02-4a85-b672-46d1f715543e.schema")
      assert.strictEqual(defaults.contentKey, "msgContent")
      assert.strictEqual(defaults.updateMs, 1_000)
      assert.strictEqual(defaults.pauseMs, 30 * 60_000)
      assert.strictEqual(defaults.progressAfterMs, 60_000)
      const tuned = (yield* parse({ ...required, DINGTALK_CARDS: "off", DINGTALK_CARD_UPDATE_MS: "50", DINGTALK_CARD_CONTENT_KEY: "content" })).cards
      assert.isFalse(tuned.enabled)
      assert.strictEqual(tuned.updateMs, 200)
      assert.strictEqual(tuned.contentKey, "content")
      const refused = yield* Effect.flip(parse({ ...required, DINGTALK_CARDS: "maybe" }))
      assert.match(configErrorReport(refused), /DINGTALK_CARDS/)
    }))

  it.effect("Basic auth is sent as opencode:<password> unless another user name is set", () =>
    Effect.gen(function*() {
      const settings = yield* parse({ ...required, OPENCODE_SERVER_PASSWORD: "pw" })
      assert.strictEqual(Option.getOrThrow(openCodeAuthHeader(settings)), `Basic ${Buffer.from("opencode:pw").toString("base64")}`)
      assert.strictEqual(Redacted.value(Option.getOrThrow(settings.opencode.password)), "pw")
    }))

  it.effect("errors name the variable in one line a person can act on", () =>
    Effect.gen(function*() {
      const missing = yield* parse({ DINGTALK_CLIENT_ID: "x" }).pipe(Effect.flip)
      assert.match(configErrorReport(missing), /^Configuration error: DINGTALK_CLIENT_SECRET is not set\. /)
      const notNumber = yield* parse({ ...required, BRIDGE_CONCURRENCY: "many" }).pipe(Effect.flip)
      assert.match(configErrorReport(notNumber), /BRIDGE_CONCURRENCY is invalid/)
      const zero = yield* parse({ ...required, BRIDGE_CONCURRENCY: "0" }).pipe(Effect.flip)
      assert.match(configErrorReport(zero), /BRIDGE_CONCURRENCY must be a positive integer/)
      const badLevel = yield* parse({ ...required, LOG_LEVEL: "loud" }).pipe(Effect.flip)
      assert.match(configErrorReport(badLevel), /LOG_LEVEL must be one of/)
      const badUrl = yield* parse({ ...required, OPENCODE_SERVER_URL: "not a url" }).pipe(Effect.flip)
      assert.match(configErrorReport(badUrl), /OPENCODE_SERVER_URL is invalid/)
      assert.notInclude(configErrorReport(badUrl), "\n")
      const lonelyClient = yield* parse({ ...required, BRIDGE_CLUSTER_ROLE: "client" }).pipe(Effect.flip)
      assert.match(configErrorReport(lonelyClient), /BRIDGE_CLUSTER_ROLE=client joins a cluster, so BRIDGE_DATABASE_URL must be set too/)
      const client = yield* parse({ ...required, BRIDGE_CLUSTER_ROLE: "client", BRIDGE_DATABASE_URL: "postgres://u@127.0.0.1/db" })
      assert.strictEqual(client.cluster.role, "client")
      assert.strictEqual((yield* parse(required)).cluster.role, "runner")
    }))
})
