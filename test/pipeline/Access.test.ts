import { assert, describe, it } from "@effect/vitest"
import { type Context, Effect } from "effect"
import { BridgeMetrics } from "../../src/core/BridgeMetrics.js"
import { Conversations } from "../../src/dingtalk/Conversations.js"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"
import { eventually, startBridge, testEnv } from "../support/bridge.js"

const counters = (context: Context.Context<BridgeMetrics>) =>
  BridgeMetrics.use((m) => m.snapshot).pipe(Effect.provideContext(context), Effect.map((s) => s.counters))

const codeIn = (text: string) => /pairing code is ([A-Z0-9]{6})/.exec(text)?.[1]

describe("access in the pipeline", () => {
  it.live("500 messages from an outsider cost one notice, reach nobody, are not remembered, and do not hold up an allowed user's answer", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      // A reply budget of 3 per minute: had the notices used it, the answer would wait a minute.
      const context = yield* startBridge(testEnv(emulator, opencode.url, {
        DINGTALK_ACCESS: "pairing", DINGTALK_ALLOWED_USERS: "staff-ok", DINGTALK_RATE_LIMIT: "3", DINGTALK_RATE_WINDOW_MS: "60000",
      }))
      yield* Effect.promise(() => emulator.waitForConnections(1))
      for (let i = 0; i < 500; i++) emulator.pushMessage({ text: `run id #${i}`, conversationId: "cid-out", senderStaffId: "outsider" })
      emulator.pushMessage({ text: "my question", conversationId: "cid-ok", senderStaffId: "staff-ok" })
      const [answer] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-ok", timeoutMs: 10_000 }))
      assert.strictEqual(answer!.text, "ECHO: my question")
      yield* eventually("every outsider message handled", () => Effect.runSync(counters(context)).pairingCodes === 500 || undefined, 10_000)

      const notices = emulator.repliesFor("cid-out")
      assert.strictEqual(notices.length, 1)
      assert.isString(codeIn(notices[0]!.text))
      assert.deepStrictEqual(opencode.prompts.map((p) => p.text), ["my question"])
      const c = yield* counters(context)
      assert.strictEqual(c.noticesSuppressed, 499)
      const known = yield* Conversations.use((r) => r.list).pipe(Effect.provideContext(context))
      assert.deepStrictEqual(known.map((r) => r.id), ["cid-ok"])
    }).pipe(Effect.scoped), 30_000)

  it.live("an admin approves a pairing code with /pair in a group; a non-admin's /pair is refused; the approved sender is told and answered", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_ACCESS: "pairing", DINGTALK_ALLOWED_USERS: "staff-ok", DINGTALK_ADMINS: "staff-admin" }))
      yield* Effect.promise(() => emulator.waitForConnections(1))
      emulator.pushMessage({ text: "hello?", conversationId: "cid-new", senderStaffId: "newcomer", senderNick: "Newcomer" })
      const [notice] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-new" }))
      const code = codeIn(notice!.text)!
      assert.isString(code)
      assert.include(notice!.text, `dingtalk-mcp-server pair ${code}`)

      const group = { conversationId: "cid-group", conversationType: "2" as const }
      emulator.pushMessage({ ...group, text: `/pair ${code}`, senderStaffId: "staff-ok" })
      const [refused] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-group" }))
      assert.match(refused!.text, /Only the robot's admins/)
      emulator.pushMessage({ text: "still me", conversationId: "cid-new", senderStaffId: "newcomer" })
      emulator.pushMessage({ ...group, text: `/pair ${code.toLowerCase()}`, senderStaffId: "staff-admin" })
      const replies = yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-group" }))
      assert.match(replies[1]!.text, /Approved Newcomer/)
      assert.strictEqual(opencode.prompts.length, 0)

      const told = yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-new" }))
      assert.match(told[1]!.text, /You are approved/)
      emulator.pushMessage({ text: "now may I?", conversationId: "cid-new", senderStaffId: "newcomer" })
      const answered = yield* Effect.promise(() => emulator.waitForReplies(3, { conversationId: "cid-new" }))
      assert.strictEqual(answered[2]!.text, "ECHO: now may I?")

      emulator.pushMessage({ ...group, text: "/pair NOPE22", senderStaffId: "staff-admin" })
      const unknown = yield* Effect.promise(() => emulator.waitForReplies(3, { conversationId: "cid-group" }))
      assert.match(unknown[2]!.text, /Unknown or expired pairing code/)
    }).pipe(Effect.scoped), 20_000)
})
