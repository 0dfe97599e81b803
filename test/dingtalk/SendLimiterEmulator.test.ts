/**
 * The bridge against an emulator that enforces DingTalk's sliding window: whatever came before
 * (a long answer in parts, an OpenAPI fallback), a burst of answers never trips the limit.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"
import { startBridge, testEnv } from "../support/bridge.js"

// DingTalk's 20 per 60 s, with the window shortened so the test takes seconds.
const LIMIT = 20
const WINDOW_MS = 2_000

describe("sliding-window rate limit against the emulator", () => {
  it.live("a 25-answer burst after a 50 KB answer and an OpenAPI fallback gets no 130101", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped({ enforceRateLimit: { limit: LIMIT, windowMs: WINDOW_MS } })
      const opencode = yield* FakeOpenCodeScoped()
      yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_RATE_LIMIT: String(LIMIT), DINGTALK_RATE_WINDOW_MS: String(WINDOW_MS) }))
      yield* Effect.promise(() => emulator.waitForConnections(1))

      emulator.pushMessage({ text: "BIGREPLY 50000", conversationId: "cid-big" })
      const big = yield* Effect.promise(() => emulator.waitForReplies(3, { conversationId: "cid-big", timeoutMs: 10_000 }))
      assert.isAtLeast(big.length, 3)
      emulator.pushMessage({ text: "first", conversationId: "cid-late", senderStaffId: "staff-late" })
      yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-late" }))
      emulator.expireWebhook("cid-late")
      emulator.pushMessage({ text: "again", conversationId: "cid-late", senderStaffId: "staff-late", sessionWebhookExpiredTime: Date.now() - 1 })
      const late = yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-late", timeoutMs: 10_000 }))
      assert.strictEqual(late[1]!.route, "openapi-o2o")

      for (let i = 0; i < 25; i++) emulator.pushMessage({ text: `burst ${i}`, conversationId: `cid-burst-${i}` })
      const all = yield* Effect.promise(async () => {
        const deadline = Date.now() + 20_000
        while (emulator.replies.filter((r) => r.conversationId.startsWith("cid-burst-")).length < 25) {
          if (Date.now() > deadline) throw new Error("timed out waiting for the 25 burst answers")
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        return emulator.replies
      })
      assert.strictEqual(emulator.rateLimited, 0)
      assert.deepStrictEqual(
        all.filter((r) => r.conversationId.startsWith("cid-burst-")).map((r) => r.text).sort(),
        Array.from({ length: 25 }, (_, i) => `ECHO: burst ${i}`).sort()
      )
    }).pipe(Effect.scoped), 30_000)
})
