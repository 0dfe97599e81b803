import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { cardSlice } from "../../src/pipeline/LiveTurn.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"
import { startBridge, testEnv } from "../support/bridge.js"

describe("live turns", () => {
  it("a card holds up to its size, cut at a word; the rest is kept for markdown", () => {
    const text = Array.from({ length: 400 }, (_, i) => `word${i}`).join(" ")
    const { head, rest } = cardSlice(text, 1_000)
    assert.isAtMost(Buffer.byteLength(head), 1_000)
    assert.strictEqual(head + rest, text)
    assert.match(head, /word\d+ ?$/)
    assert.deepStrictEqual(cardSlice("short", 1_000), { head: "short", rest: "" })
  })

  it.live("without OpenCode's event stream a long blocking turn still gets one progress message, then the answer", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      // The fake has no GET /event: turns take the blocking call.
      const opencode = yield* FakeOpenCodeScoped()
      yield* startBridge(testEnv(emulator, opencode.url, { BRIDGE_PROGRESS_AFTER_MS: "300" }))
      yield* Effect.promise(() => emulator.waitForConnections(1))
      emulator.pushMessage({ text: "SLOW 1500", conversationId: "cid-slow-blocking" })
      const replies = yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-slow-blocking" }))
      assert.match(replies[0]!.text, /^⏳ Still working \(\d+ s\)\.$/)
      assert.strictEqual(replies[1]!.text, "ECHO: SLOW 1500")
      // A quick turn right after: no second progress message.
      emulator.pushMessage({ text: "quick", conversationId: "cid-slow-blocking" })
      const after = yield* Effect.promise(() => emulator.waitForReplies(3, { conversationId: "cid-slow-blocking" }))
      assert.strictEqual(after[2]!.text, "ECHO: quick")
    }).pipe(Effect.scoped))
})
