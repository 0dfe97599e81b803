import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import type { InboundMessage } from "../../src/dingtalk/RobotMessage.js"
import { AccessToken } from "../../src/dingtalk/AccessToken.js"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { BridgeMetrics } from "../../src/core/BridgeMetrics.js"
import { Conversations } from "../../src/dingtalk/Conversations.js"
import { Delivery } from "../../src/dingtalk/Delivery.js"
import { DingTalkHttp, type JsonAnswer, type RecordedPost } from "../../src/dingtalk/DingTalkHttp.js"
import { SendLimiter } from "../../src/dingtalk/SendLimiter.js"

/** A DingTalk that records what it was sent, when, and answers from a script. */
const recordingHttp = (answer?: (url: string, body: any) => JsonAnswer) => {
  const sent: Array<RecordedPost> = []
  return { sent, layer: DingTalkHttp.layerTest(answer, sent) }
}

const inbound = (conversationId: string, overrides: Partial<InboundMessage> = {}): InboundMessage => ({
  robotCode: "robot", msgId: "m", conversationId, conversationType: "single", conversationTitle: undefined,
  senderId: "$:s", senderKey: "staff-1", senderStaffId: "staff-1", senderNick: "Tester", body: { _tag: "Text", text: "hi" },
  webhook: `http://dingtalk.test/robot/sendBySession?session=${conversationId}`, webhookExpiresAt: Number.MAX_SAFE_INTEGER, receivedAt: 0,
  ...overrides,
})

const deliveryLayer = (http: Layer.Layer<DingTalkHttp>, env: Record<string, string> = {}) =>
  Delivery.layer.pipe(
    Layer.provideMerge(AccessToken.layer),
    Layer.provideMerge(Layer.mergeAll(http, Conversations.layer, BridgeMetrics.layer, SendLimiter.layer)),
    Layer.provideMerge(BridgeConfig.layerFrom({ DINGTALK_CLIENT_ID: "robot", DINGTALK_CLIENT_SECRET: "secret", DINGTALK_API_URL: "http://dingtalk.test", ...env }))
  )

const remember = (message: InboundMessage) => Conversations.use((c) => c.remember(message))

describe("Delivery", () => {
  it.effect("25 replies in one minute: 20 go at once, 5 after the window, none lost, order kept", () => {
    const http = recordingHttp()
    return Effect.gen(function*() {
      yield* remember(inbound("cid-rate"))
      const delivery = yield* Delivery
      const fibers = []
      for (let i = 1; i <= 25; i++) {
        fibers.push(yield* delivery.send({ conversationId: "cid-rate", text: `reply ${i}`, format: "text" }).pipe(Effect.forkChild))
        yield* Effect.yieldNow
      }
      yield* TestClock.adjust("1 second")
      assert.strictEqual(http.sent.length, 20)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.joinAll(fibers)
      assert.strictEqual(http.sent.length, 25)
      assert.deepStrictEqual(http.sent.map((s) => s.body.text.content), Array.from({ length: 25 }, (_, i) => `reply ${i + 1}`))
      assert.isTrue(http.sent.slice(20).every((s) => s.at >= 60_000))
      const { counters } = yield* BridgeMetrics.use((m) => m.snapshot)
      assert.isAbove(counters.rateLimitWaitMs, 0)
    }).pipe(Effect.provide(deliveryLayer(http.layer)))
  })

  it.effect("a 130101 answer is retried later and the part is delivered exactly once", () => {
    let throttled = 2
    const http = recordingHttp(() => (throttled-- > 0 ? { status: 200, body: { errcode: 130101, errmsg: "send too fast" } } : { status: 200, body: { errcode: 0 } }))
    return Effect.gen(function*() {
      yield* remember(inbound("cid-t"))
      const fiber = yield* Delivery.use((d) => d.send({ conversationId: "cid-t", text: "patience" })).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 minute")
      const receipt = yield* Fiber.join(fiber)
      assert.strictEqual(receipt.parts, 1)
      assert.strictEqual(http.sent.length, 3)
      // 5 s, then 10 s between the attempts.
      assert.deepStrictEqual(http.sent.map((s) => s.at), [0, 5_000, 15_000])
    }).pipe(Effect.provide(deliveryLayer(http.layer)))
  })

  it.effect("an expired webhook goes through the OpenAPI with a token (1:1 and group)", () => {
    const http = recordingHttp((url) =>
      url.endsWith("/v1.0/oauth2/accessToken") ? { status: 200, body: { accessToken: "tok-1", expireIn: 7200 } } : { status: 200, body: {} }
    )
    return Effect.gen(function*() {
      yield* remember(inbound("cid-1on1", { webhookExpiresAt: 1 }))
      yield* remember(inbound("cid-group", { webhookExpiresAt: 1, conversationType: "group" }))
      const one = yield* Delivery.use((d) => d.send({ conversationId: "cid-1on1", text: "# Done\nall green" }))
      const group = yield* Delivery.use((d) => d.send({ conversationId: "cid-group", text: "hello group", format: "text" }))
      assert.deepStrictEqual(one.routes, ["openapi"])
      assert.deepStrictEqual(group.routes, ["openapi"])
      const tokenCalls = http.sent.filter((s) => s.url.endsWith("/accessToken"))
      assert.strictEqual(tokenCalls.length, 1)
      const [o2o, grp] = http.sent.filter((s) => s.url.includes("/v1.0/robot/"))
      assert.strictEqual(o2o!.url, "http://dingtalk.test/v1.0/robot/oToMessages/batchSend")
      assert.deepStrictEqual(o2o!.body.userIds, ["staff-1"])
      assert.strictEqual(o2o!.body.msgKey, "sampleMarkdown")
      assert.deepStrictEqual(JSON.parse(o2o!.body.msgParam), { title: "Done", text: "# Done\nall green" })
      assert.strictEqual(grp!.url, "http://dingtalk.test/v1.0/robot/groupMessages/send")
      assert.strictEqual(grp!.body.openConversationId, "cid-group")
      assert.deepStrictEqual(JSON.parse(grp!.body.msgParam), { content: "hello group" })
    }).pipe(Effect.provide(deliveryLayer(http.layer)))
  })

  it.effect("a 300001 answer switches the rest of the reply to the OpenAPI", () => {
    const http = recordingHttp((url) =>
      url.endsWith("/accessToken") ? { status: 200, body: { accessToken: "tok", expireIn: 7200 } }
      : url.includes("sendBySession") ? { status: 200, body: { errcode: 300001, errmsg: "session expired" } }
      : { status: 200, body: {} }
    )
    return Effect.gen(function*() {
      yield* remember(inbound("cid-x"))
      const receipt = yield* Delivery.use((d) => d.send({ conversationId: "cid-x", text: "late answer" }))
      assert.deepStrictEqual(receipt.routes, ["webhook", "openapi"])
      assert.strictEqual(receipt.parts, 1)
      const robotSends = http.sent.filter((s) => s.url.includes("/v1.0/robot/"))
      assert.strictEqual(robotSends.length, 1)
    }).pipe(Effect.provide(deliveryLayer(http.layer)))
  })

  it.effect("a 50 000-byte message arrives complete in ordered parts under the byte limit", () => {
    const http = recordingHttp()
    const text = Array.from({ length: 1_000 }, (_, i) => `line ${i}: 汉字 and emoji 🚀 — ${"x".repeat(20)}`).join("\n")
    return Effect.gen(function*() {
      yield* remember(inbound("cid-big"))
      const receipt = yield* Delivery.use((d) => d.send({ conversationId: "cid-big", text }))
      assert.isAbove(Buffer.byteLength(text), 50_000)
      assert.strictEqual(receipt.parts, http.sent.length)
      assert.isAtLeast(receipt.parts, 3)
      for (const s of http.sent) assert.isAtMost(Buffer.byteLength(JSON.stringify(s.body)), 20_000)
      const bodies = http.sent.map((s, i) => {
        const header = `(${i + 1}/${receipt.parts})\n`
        assert.isTrue(s.body.markdown.text.startsWith(header))
        return s.body.markdown.text.slice(header.length)
      })
      assert.strictEqual(bodies.join(""), text)
    }).pipe(Effect.provide(deliveryLayer(http.layer)))
  })

  it.effect("a 401 from the OpenAPI drops the token and the part goes out once with a fresh one", () => {
    let tokens = 0
    const http = recordingHttp((url) =>
      url.endsWith("/accessToken") ? { status: 200, body: { accessToken: `tok-${++tokens}`, expireIn: 7200 } }
      : url.includes("/v1.0/robot/") && tokens === 1 ? { status: 401, body: { code: "InvalidAuthentication" } }
      : { status: 200, body: {} }
    )
    return Effect.gen(function*() {
      yield* remember(inbound("cid-401", { webhookExpiresAt: 1 }))
      const receipt = yield* Delivery.use((d) => d.send({ conversationId: "cid-401", text: "again" }))
      assert.strictEqual(receipt.parts, 1)
      const robotSends = http.sent.filter((s) => s.url.includes("/v1.0/robot/"))
      assert.deepStrictEqual(robotSends.map((s) => s.headers["x-acs-dingtalk-access-token"]), ["tok-1", "tok-2"])
      assert.strictEqual(tokens, 2)
    }).pipe(Effect.provide(deliveryLayer(http.layer)))
  })

  it.effect("an unknown conversation is an error that says how to get a valid ID", () =>
    Effect.gen(function*() {
      const error = yield* Delivery.use((d) => d.send({ conversationId: "cid-none", text: "x" })).pipe(Effect.flip)
      assert.strictEqual(error._tag, "UnknownConversation")
      assert.match(error.message, /dingtalk_list_conversations/)
    }).pipe(Effect.provide(deliveryLayer(recordingHttp().layer))))
})
