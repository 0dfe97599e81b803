import { assert, describe, it } from "@effect/vitest"
import { type Context, Effect, Exit, Fiber, Schedule } from "effect"
import { DingTalkStream } from "../../src/dingtalk/DingTalkStream.js"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"
import { eventually, startBridge, testEnv } from "../support/bridge.js"

const status = (context: Context.Context<DingTalkStream>) => DingTalkStream.use((s) => s.status).pipe(Effect.provideContext(context))

describe("DingTalk stream connection", () => {
  it.live("a dropped socket is replaced within 1 s and the next message is answered", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      const context = yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_RECONNECT_BASE_MS: "200" }))
      yield* Effect.promise(() => emulator.waitForConnections(1))
      const before = emulator.totalConnections
      const droppedAt = Date.now()
      emulator.dropConnection()
      yield* Effect.promise(() => emulator.waitForNewConnection(before, 1_000))
      assert.isBelow(Date.now() - droppedAt, 1_000)
      emulator.pushMessage({ text: "after drop", conversationId: "cid-drop" })
      const [reply] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-drop" }))
      assert.strictEqual(reply!.text, "ECHO: after drop")
      const s = yield* status(context).pipe(Effect.repeat({ until: (current) => current.state === "connected", schedule: Schedule.spaced("10 millis") }), Effect.timeout("2 seconds"))
      assert.strictEqual(s.reconnects, 1)
    }).pipe(Effect.scoped))

  it.live("a gateway that fails 3 times is retried 3 times, then connects", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      emulator.failGateway(3, 503)
      const context = yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_RECONNECT_BASE_MS: "50" }))
      yield* Effect.promise(() => emulator.waitForConnections(1, 5_000))
      assert.strictEqual(emulator.gatewayCalls, 4)
      const s = yield* status(context).pipe(Effect.repeat({ until: (current) => current.state === "connected", schedule: Schedule.spaced("10 millis") }), Effect.timeout("2 seconds"))
      assert.strictEqual(s.attempt, 0)
      assert.match(s.lastError ?? "", /503/)
    }).pipe(Effect.scoped))

  it.live("a SYSTEM disconnect notice switches connections without losing a message", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped({ disconnectCloseAfterMs: 1_000, pick: "last" })
      const opencode = yield* FakeOpenCodeScoped()
      yield* startBridge(testEnv(emulator, opencode.url))
      yield* Effect.promise(() => emulator.waitForConnections(1))
      const first = emulator.openConnections()[0]!.id
      emulator.sendDisconnect(first)
      // Pushed to the old socket after the notice, before it closes: still answered.
      emulator.pushMessage({ text: "in the gap", conversationId: "cid-gap" }, { connectionId: first })
      yield* Effect.promise(() => emulator.waitForNewConnection(1, 2_000))
      emulator.pushMessage({ text: "on the new one", conversationId: "cid-gap" })
      const replies = yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-gap" }))
      assert.deepStrictEqual(replies.map((r) => r.text).sort(), ["ECHO: in the gap", "ECHO: on the new one"])
      yield* eventually("old socket closed", () => emulator.openConnections().length === 1, 3_000)
    }).pipe(Effect.scoped))

  it.live("a half-open socket that never closes is detected by the watchdog and replaced", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_PING_INTERVAL_MS: "100", DINGTALK_DEAD_SOCKET_MS: "500" }))
      yield* Effect.promise(() => emulator.waitForConnections(1))
      emulator.freezeConnection()
      yield* Effect.promise(() => emulator.waitForNewConnection(1, 3_000))
      emulator.pushMessage({ text: "revived", conversationId: "cid-frozen" }, { connectionId: emulator.openConnections().at(-1)!.id })
      const [reply] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-frozen" }))
      assert.strictEqual(reply!.text, "ECHO: revived")
    }).pipe(Effect.scoped))

  it.live("wrong credentials fail at once with an error naming them", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const env = { ...testEnv(emulator, "http://127.0.0.1:9"), DINGTALK_CLIENT_SECRET: "wrong" }
      const context = yield* startBridge(env)
      const fatal = yield* DingTalkStream.use((s) => s.fatal).pipe(Effect.provideContext(context), Effect.forkChild)
      const exit = yield* Fiber.await(fatal).pipe(Effect.timeout("3 seconds"))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? String(exit.cause) : ""
      assert.match(error, /DINGTALK_CLIENT_SECRET/)
      assert.strictEqual(emulator.gatewayCalls, 1)
      const s = yield* status(context)
      assert.strictEqual(s.state, "failed")
    }).pipe(Effect.scoped))
})
