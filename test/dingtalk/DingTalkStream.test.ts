import { assert, describe, it } from "@effect/vitest"
import { type Context, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { DingTalkStream } from "../../src/dingtalk/DingTalkStream.js"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"
import { bridgeFixture, eventually, startBridge, testEnv } from "../support/bridge.js"

const status = (context: Context.Context<DingTalkStream>) => DingTalkStream.use((s) => s.status).pipe(Effect.provideContext(context))

/** Waits (in real time) until the connection is backing off after failed attempt `attempt`, with its sleep registered. */
const inBackoff = (context: Context.Context<DingTalkStream>, attempt: number) =>
  status(context).pipe(
    Effect.repeat({ until: (s) => s.state === "backoff" && s.attempt === attempt, schedule: Schedule.spaced("10 millis") }),
    Effect.andThen(Effect.sleep("20 millis")),
    Effect.timeout("5 seconds"),
    TestClock.withLive
  )

describe("DingTalk stream connection", () => {
  it.effect("a dropped socket is replaced after the first backoff (200 ms) and the next message is answered", () =>
    Effect.gen(function*() {
      const { emulator, context } = yield* bridgeFixture({ env: { DINGTALK_RECONNECT_BASE_MS: "200" } })
      emulator.dropConnection()
      yield* inBackoff(context, 1)
      yield* TestClock.adjust("199 millis")
      assert.strictEqual(emulator.totalConnections, 1)
      yield* TestClock.adjust("1 millis")
      yield* Effect.promise(() => emulator.waitForNewConnection(1, 3_000))
      emulator.pushMessage({ text: "after drop", conversationId: "cid-drop" })
      const [reply] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-drop" }))
      assert.strictEqual(reply!.text, "ECHO: after drop")
      const s = yield* status(context).pipe(Effect.repeat({ until: (current) => current.state === "connected", schedule: Schedule.spaced("10 millis") }), TestClock.withLive)
      assert.strictEqual(s.reconnects, 1)
    }).pipe(Effect.scoped))

  it.effect("a gateway that fails 3 times is retried after exactly 5, 10 and 20 s, then connects", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      emulator.failGateway(3, 503)
      const context = yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_RECONNECT_BASE_MS: "5000" }))
      for (const [attempt, delay] of [[1, 5_000], [2, 10_000], [3, 20_000]] as const) {
        yield* inBackoff(context, attempt)
        yield* TestClock.adjust(delay - 1)
        assert.strictEqual(emulator.gatewayCalls, attempt)
        yield* TestClock.adjust(1)
        yield* eventually(`gateway call ${attempt + 1}`, () => emulator.gatewayCalls === attempt + 1)
      }
      yield* Effect.promise(() => emulator.waitForConnections(1, 5_000))
      const s = yield* status(context).pipe(Effect.repeat({ until: (current) => current.state === "connected", schedule: Schedule.spaced("10 millis") }), TestClock.withLive)
      assert.strictEqual(s.attempt, 0)
      assert.match(s.lastError ?? "", /503/)
    }).pipe(Effect.scoped))

  it.live("a SYSTEM disconnect notice switches connections without losing a message", () =>
    Effect.gen(function*() {
      const { emulator } = yield* bridgeFixture({ emulator: { disconnectCloseAfterMs: 1_000, pick: "last" } })
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

  // Real time with short intervals: the whole bridge (event stream, turn timers) runs here, which a held TestClock starves.
  it.live("a half-open socket that never closes is detected by the watchdog and replaced", () =>
    Effect.gen(function*() {
      const { emulator } = yield* bridgeFixture({ env: { DINGTALK_PING_INTERVAL_MS: "100", DINGTALK_DEAD_SOCKET_MS: "500" } })
      const frozen = emulator.openConnections()[0]!.id
      emulator.freezeConnection()
      yield* Effect.promise(() => emulator.waitForNewConnection(1, 3_000))
      const revived = emulator.openConnections().at(-1)!.id
      assert.notStrictEqual(revived, frozen)
      emulator.pushMessage({ text: "revived", conversationId: "cid-frozen" }, { connectionId: revived })
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
