import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { BridgeMetrics } from "../../src/core/BridgeMetrics.js"
import { MAX_FRAME_DEPTH, nestedDeeperThan } from "../../src/dingtalk/StreamClient.js"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"
import { eventually, startBridge, testEnv } from "../support/bridge.js"

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels)

describe("gateway frames are untrusted", () => {
  it("nesting is measured without recursion", () => {
    assert.isFalse(nestedDeeperThan({ a: { b: [1, 2] } }, 3))
    assert.isTrue(nestedDeeperThan({ a: { b: [{}] } }, 3))
    assert.isTrue(nestedDeeperThan(JSON.parse(deep(200_000)), MAX_FRAME_DEPTH))
  })

  it.live("a deeply nested CALLBACK frame without messageId is counted malformed, and the next message is still answered", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      const context = yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_ACCESS: "open" }))
      yield* Effect.promise(() => emulator.waitForConnections(1))
      const connection = emulator.openConnections()[0]!.id
      const malformed = () => Effect.runSync(BridgeMetrics.use((m) => m.snapshot).pipe(Effect.provideContext(context))).counters.malformed
      // The frame that overflowed the stack in a log preview, plus other shapes that once reached the SDK.
      emulator.pushFrame(`{"type":"CALLBACK","headers":{"topic":"/v1.0/im/bot/messages/get"},"data":${deep(100_000)}}`)
      emulator.pushFrame(`{"type":"SYSTEM","headers":{"topic":"ping","messageId":"p1"},"data":${deep(50_000)}}`)
      emulator.pushFrame(`{"type":${deep(10_000)},"headers":{}}`)
      emulator.pushFrame(`{"type":"CALLBACK","headers":{"messageId":7}}`)
      emulator.pushFrame("null")
      yield* eventually("5 malformed frames counted", () => malformed() === 5)
      // Same socket, same process: a normal message is answered.
      assert.deepStrictEqual(emulator.openConnections().map((c) => c.id), [connection])
      emulator.pushMessage({ text: "still alive?", conversationId: "cid-after-deep" })
      const [reply] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-after-deep" }))
      assert.strictEqual(reply!.text, "ECHO: still alive?")
    }).pipe(Effect.scoped))

  it.live("a frame over 1 MiB closes that socket (ws maxPayload) and the bridge reconnects", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_ACCESS: "open" }))
      yield* Effect.promise(() => emulator.waitForConnections(1))
      emulator.pushFrame(`{"type":"CALLBACK","headers":{},"data":"${"x".repeat(2 * 1024 * 1024)}"}`)
      yield* Effect.promise(() => emulator.waitForNewConnection(1, 5_000))
      emulator.pushMessage({ text: "after the big one", conversationId: "cid-after-big" })
      const [reply] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-after-big" }))
      assert.strictEqual(reply!.text, "ECHO: after the big one")
    }).pipe(Effect.scoped))
})
