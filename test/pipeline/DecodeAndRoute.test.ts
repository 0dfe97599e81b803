import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { decodeFrame } from "../../src/pipeline/Decode.js"
import { needsAdmin, route } from "../../src/pipeline/Route.js"

const frame = (data: unknown) => ({ frameId: "f1", connectionId: "c1", topic: "/v1.0/im/bot/messages/get", data, receivedAt: 0 })
const message = (fields: Record<string, unknown>) =>
  JSON.stringify({
    msgId: "m1", msgtype: "text", conversationId: "cid1", conversationType: "1", senderId: "$:s", senderStaffId: "staff1",
    senderNick: "Li Lei", sessionWebhook: "http://127.0.0.1/hook", sessionWebhookExpiredTime: 2_000_000_000_000, text: { content: " hello " },
    ...fields,
  })

describe("decode", () => {
  it.effect("a text message becomes its trimmed text", () =>
    Effect.gen(function*() {
      const decoded = yield* decodeFrame(frame(message({})), "robot")
      assert.isTrue(decoded._tag === "Success")
      if (decoded._tag !== "Success") return
      assert.deepStrictEqual(decoded.success.body, { _tag: "Text", text: "hello" })
      assert.strictEqual(decoded.success.robotCode, "robot")
      assert.strictEqual(decoded.success.senderKey, "staff1")
    }))

  it.effect("rich text parts are joined, its pictures become attachments, and audio uses its recognition", () =>
    Effect.gen(function*() {
      const rich = yield* decodeFrame(frame(message({ msgtype: "richText", text: undefined, content: { richText: [{ text: "look " }, { type: "picture", downloadCode: "x" }, { text: " here" }] } })), "r")
      assert.deepStrictEqual(rich._tag === "Success" && rich.success.body, { _tag: "Text", text: "look  here" })
      assert.deepStrictEqual(rich._tag === "Success" && rich.success.attachments, [{ kind: "picture", downloadCode: "x" }])
      const audio = yield* decodeFrame(frame(message({ msgtype: "audio", text: undefined, content: { recognition: "run the tests", duration: 3 } })), "r")
      assert.deepStrictEqual(audio._tag === "Success" && audio.success.body, { _tag: "Text", text: "run the tests" })
    }))

  it.effect("the robot's @mention is stripped in groups", () =>
    Effect.gen(function*() {
      const decoded = yield* decodeFrame(frame(message({
        conversationType: "2", chatbotUserId: "bot1", atUsers: [{ dingtalkId: "bot1" }], text: { content: "@Robot  fix the build" },
      })), "r")
      assert.deepStrictEqual(decoded._tag === "Success" && decoded.success.body, { _tag: "Text", text: "fix the build" })
    }))

  it.effect("bad JSON, missing fields and oversized frames are rejected with a reason", () =>
    Effect.gen(function*() {
      for (const [data, reason] of [
        ["{not json", /JSON/i],
        [JSON.stringify({ msgId: "m" }), /msgtype|conversationId|Missing/i],
        [message({ conversationId: 42 }), /string/i],
        ["x".repeat(300_000), /over the/],
        [{ already: "object" }, /not a string/],
      ] as const) {
        const decoded = yield* decodeFrame(frame(data), "r")
        assert.strictEqual(decoded._tag, "Failure")
        if (decoded._tag === "Failure") assert.match(decoded.failure.reason, reason)
      }
    }))
})

describe("route", () => {
  const decode = (fields: Record<string, unknown>) =>
    decodeFrame(frame(message(fields)), "r").pipe(Effect.map((d) => {
      if (d._tag !== "Success") throw new Error("fixture did not decode")
      return d.success
    }))

  it.effect("commands, turns, unsupported types and over-long texts are told apart", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(route(yield* decode({ text: { content: "/new" } }), 1000), { _tag: "Command", command: "new" })
      assert.deepStrictEqual(route(yield* decode({ text: { content: "/STOP " } }), 1000), { _tag: "Command", command: "stop" })
      assert.deepStrictEqual(route(yield* decode({ text: { content: "/unknown" } }), 1000), { _tag: "Turn", text: "/unknown" })
      assert.deepStrictEqual(route(yield* decode({ msgtype: "picture", content: { downloadCode: "x" } }), 1000), { _tag: "Turn", text: "" })
      assert.deepStrictEqual(route(yield* decode({ msgtype: "picture", content: {} }), 1000), { _tag: "Malformed", msgtype: "picture", reason: "it came without a download code" })
      assert.deepStrictEqual(route(yield* decode({ msgtype: "interactiveCard" }), 1000), { _tag: "Unsupported", msgtype: "interactiveCard" })
      assert.deepStrictEqual(route(yield* decode({ text: { content: "é".repeat(600) } }), 1000), { _tag: "TooLong", bytes: 1200 })
    }))

  it.effect("/pair takes a code and needs an admin; no other command does yet", () =>
    Effect.gen(function*() {
      const pair = route(yield* decode({ text: { content: "/pair  k7qx-2m " } }), 1000)
      assert.deepStrictEqual(pair, { _tag: "Pair", code: "k7qx-2m" })
      assert.deepStrictEqual(route(yield* decode({ text: { content: "/pair" } }), 1000), { _tag: "Pair", code: "" })
      assert.deepStrictEqual(route(yield* decode({ text: { content: "/pairing please" } }), 1000), { _tag: "Turn", text: "/pairing please" })
      assert.isTrue(needsAdmin(pair, "single"))
      assert.isTrue(needsAdmin(pair, "group"))
      assert.isFalse(needsAdmin(route(yield* decode({ text: { content: "/new" } }), 1000), "group"))
    }))
})
