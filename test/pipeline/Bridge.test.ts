import { assert, describe, it } from "@effect/vitest"
import { type Context, Effect, Tracer } from "effect"
import { BridgeMetrics } from "../../src/core/BridgeMetrics.js"
import { Conversations } from "../../src/dingtalk/Conversations.js"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"
import { bridgeFixture, eventually, startBridge, testEnv } from "../support/bridge.js"

const counters = (context: Context.Context<BridgeMetrics>) =>
  BridgeMetrics.use((m) => m.snapshot).pipe(Effect.provideContext(context), Effect.map((s) => s.counters))

describe("message pipeline", () => {
  it.live("a pushed text message gets OpenCode's answer on its webhook", () =>
    Effect.gen(function*() {
      const { emulator, opencode } = yield* bridgeFixture()
      const pushed = emulator.pushMessage({ text: "hello bridge", conversationId: "cid-a" })
      const [reply] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-a" }))
      assert.strictEqual(reply!.text, "ECHO: hello bridge")
      assert.strictEqual(reply!.route, "webhook")
      assert.strictEqual(reply!.msgtype, "markdown")
      assert.isTrue(emulator.isAcked(pushed.frameId))
      assert.match(opencode.sessions[0]!.title ?? "", /\[cid-a\]$/)
    }).pipe(Effect.scoped))

  it.live("a quick turn asks OpenCode for nothing but the answer (no pending-request reads per turn)", () =>
    Effect.gen(function*() {
      const { emulator, opencode } = yield* bridgeFixture()
      emulator.pushMessage({ text: "first", conversationId: "cid-q" })
      yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-q" }))
      const before = opencode.requestLog.length
      for (const n of [2, 3, 4]) {
        emulator.pushMessage({ text: `turn ${n}`, conversationId: "cid-q" })
        yield* Effect.promise(() => emulator.waitForReplies(n, { conversationId: "cid-q" }))
      }
      const during = opencode.requestLog.slice(before).filter((line) => !line.startsWith("GET /event"))
      assert.deepStrictEqual(during, Array.from({ length: 3 }, () => `POST /session/${opencode.sessions[0]!.id}/message`))
    }).pipe(Effect.scoped))

  it.live("a redelivered message is answered once", () =>
    Effect.gen(function*() {
      const { emulator, opencode, context } = yield* bridgeFixture()
      const pushed = emulator.pushMessage({ text: "once", conversationId: "cid-r" })
      const again = emulator.redeliver(pushed.frameId)
      yield* Effect.promise(() => emulator.waitForAck(again.frameId, 5_000))
      yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-r" }))
      yield* Effect.sleep("300 millis")
      assert.strictEqual(emulator.repliesFor("cid-r").length, 1)
      assert.strictEqual(opencode.prompts.length, 1)
      assert.strictEqual((yield* counters(context)).duplicates, 1)
    }).pipe(Effect.scoped))

  it.live("3 conversations × 3 one-second turns take about 3 s, in order, and a 4th conversation is not stuck", () =>
    Effect.gen(function*() {
      const { emulator, opencode } = yield* bridgeFixture({ env: { BRIDGE_CONCURRENCY: "3" }, opencode: { latencyMs: 1_000 } })
      const started = Date.now()
      for (const n of [1, 2, 3]) for (const c of ["x", "y", "z"]) emulator.pushMessage({ text: `${c}${n}`, conversationId: `cid-${c}` })
      for (const c of ["x", "y", "z"]) {
        const replies = yield* Effect.promise(() => emulator.waitForReplies(3, { conversationId: `cid-${c}`, timeoutMs: 10_000 }))
        assert.deepStrictEqual(replies.map((r) => r.text), [`ECHO: ${c}1`, `ECHO: ${c}2`, `ECHO: ${c}3`])
      }
      const elapsed = Date.now() - started
      assert.isTrue(elapsed >= 2_900 && elapsed < 4_500, `took ${elapsed} ms`)
      assert.strictEqual(opencode.maxInFlight, 3)

      // A slow conversation holds one slot; a new conversation still gets an answer in about one turn.
      emulator.pushMessage({ text: "SLOW 4000", conversationId: "cid-slow" })
      yield* Effect.sleep("100 millis")
      const quickStart = Date.now()
      emulator.pushMessage({ text: "quick", conversationId: "cid-quick" })
      yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-quick", timeoutMs: 3_000 }))
      assert.isTrue(Date.now() - quickStart < 2_000)
    }).pipe(Effect.scoped), 20_000)

  it.live("a full backlog answers busy, and the allowlist denies politely without reaching OpenCode or being remembered", () =>
    Effect.gen(function*() {
      const { emulator, opencode, context } = yield* bridgeFixture({ env: {
        BRIDGE_CONCURRENCY: "1", BRIDGE_BACKLOG: "1", DINGTALK_ACCESS: "allowlist", DINGTALK_ALLOWED_USERS: "staff-ok",
      }, opencode: { latencyMs: 1_500 } })
      emulator.pushMessage({ text: "denied", conversationId: "cid-d", senderStaffId: "staff-other" })
      const [denied] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-d" }))
      assert.match(denied!.text, /not open to you/)
      assert.strictEqual(opencode.prompts.length, 0)
      const known = yield* Conversations.use((c) => c.list).pipe(Effect.provideContext(context))
      assert.deepStrictEqual(known.map((c) => c.id), [])

      for (const c of ["b1", "b2", "b3"]) {
        emulator.pushMessage({ text: c, conversationId: `cid-${c}`, senderStaffId: "staff-ok" })
        yield* Effect.sleep("50 millis")
      }
      const [busy] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-b3" }))
      assert.match(busy!.text, /busy/)
      const c = yield* counters(context)
      assert.strictEqual(c.denied, 1)
      assert.strictEqual(c.busy, 1)
    }).pipe(Effect.scoped), 15_000)

  it.live("/new starts a fresh session and a restarted bridge reuses the conversation's session", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      yield* Effect.scoped(Effect.gen(function*() {
        yield* startBridge(testEnv(emulator, opencode.url))
        yield* Effect.promise(() => emulator.waitForConnections(1))
        emulator.pushMessage({ text: "first", conversationId: "cid-s" })
        yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-s" }))
        emulator.pushMessage({ text: "/new", conversationId: "cid-s" })
        const replies = yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-s" }))
        assert.match(replies[1]!.text, /new OpenCode session/)
        assert.strictEqual(opencode.sessions.length, 2)
      }))
      // A new bridge process: its caches are empty, the session is found by its title.
      const before = emulator.totalConnections
      yield* startBridge(testEnv(emulator, opencode.url))
      yield* Effect.promise(() => emulator.waitForNewConnection(before))
      emulator.pushMessage({ text: "after restart", conversationId: "cid-s" })
      yield* Effect.promise(() => emulator.waitForReplies(3, { conversationId: "cid-s" }))
      assert.strictEqual(opencode.sessions.length, 2)
      const last = opencode.prompts.at(-1)!
      assert.strictEqual(last.text, "after restart")
      assert.strictEqual(last.sessionId, opencode.sessions[1]!.id)
    }).pipe(Effect.scoped), 15_000)

  it.live("malformed frames are acked and counted, and the next good message is answered", () =>
    Effect.gen(function*() {
      const { emulator, context } = yield* bridgeFixture()
      const frames = [
        emulator.pushRaw("{not json"),
        emulator.pushRaw(JSON.stringify({ msgId: "only-an-id" })),
        emulator.pushRaw(JSON.stringify({ msgId: "m-x", msgtype: "text", conversationId: "cid-m", conversationType: "1", senderId: "s", sessionWebhook: "http://127.0.0.1:9/x", text: { content: "x".repeat(1_000_000) } })),
      ]
      emulator.pushFrame("this is not a frame")
      emulator.pushMessage({ conversationId: "cid-m", msgtype: "interactiveCard" } as never)
      for (const frameId of frames) yield* Effect.promise(() => emulator.waitForAck(frameId, 5_000))
      emulator.pushMessage({ text: "still alive", conversationId: "cid-m" })
      const replies = yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-m" }))
      assert.match(replies[0]!.text, /cannot read interactiveCard/)
      assert.strictEqual(replies[1]!.text, "ECHO: still alive")
      const c = yield* counters(context)
      assert.strictEqual(c.malformed, 4)
      assert.strictEqual(c.unsupported, 1)
    }).pipe(Effect.scoped), 15_000)

  it.live("/stop aborts the running turn, a turn over the timeout is aborted, and an unreachable OpenCode is explained", () =>
    Effect.gen(function*() {
      const { emulator, opencode, context } = yield* bridgeFixture({ env: { OPENCODE_TURN_TIMEOUT_MS: "1000" } })

      emulator.pushMessage({ text: "SLOW 5000", conversationId: "cid-stop" })
      yield* Effect.sleep("200 millis")
      emulator.pushMessage({ text: "/stop", conversationId: "cid-stop" })
      const [stopped] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-stop" }))
      assert.match(stopped!.text, /Stopped/)
      assert.strictEqual(opencode.aborts.length, 1)

      emulator.pushMessage({ text: "SLOW 3000", conversationId: "cid-timeout" })
      const [timedOut] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-timeout", timeoutMs: 4_000 }))
      assert.match(timedOut!.text, /did not finish within 1 s/)
      assert.strictEqual(opencode.aborts.length, 2)

      // A turn running in another chat: counted under all chats, not this one.
      emulator.pushMessage({ text: "SLOW 800", conversationId: "cid-other" })
      yield* eventually("the other chat's turn to start", () => opencode.inFlight === 1)
      emulator.pushMessage({ text: "/status", conversationId: "cid-timeout" })
      const status = yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-timeout" }))
      assert.match(status[1]!.text, /\*\*This chat:\*\* idle, 0 waiting/)
      assert.match(status[1]!.text, /\*\*All chats:\*\* 1 running, 0 waiting/)
      assert.match(status[1]!.text, /\*\*Session:\*\* ses_/)
      assert.match(status[1]!.text, /\*\*DingTalk:\*\* connected/)
      assert.match(status[1]!.text, /\*\*OpenCode:\*\* reachable/)
      assert.notMatch(status[1]!.text, /http|127\.0\.0\.1/)
      yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-other" }))

      yield* Effect.promise(() => opencode.close())
      emulator.pushMessage({ text: "anyone there?", conversationId: "cid-down" })
      const [down] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-down" }))
      assert.match(down!.text, /OpenCode is not reachable right now; the operator can see details in the logs/)
      assert.notMatch(down!.text, /http|127\.0\.0\.1|:\d{2,5}/)
      const c = yield* counters(context)
      assert.strictEqual(c.timedOut, 1)
      assert.strictEqual(c.aborted, 1)
      assert.strictEqual(c.failed, 1)
    }).pipe(Effect.scoped), 15_000)

  it.live("one message is one trace: handle, turn, session, OpenCode prompt, delivery, the webhook POST", () => {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      },
    })
    return Effect.gen(function*() {
      const { emulator } = yield* bridgeFixture({ opencode: { latencyMs: 300 } })
      // The second waits behind the first in the same conversation: it runs on the worker the first started.
      const pushed = [emulator.pushMessage({ text: "trace me", conversationId: "cid-trace" }), emulator.pushMessage({ text: "and me", conversationId: "cid-trace" })]
      yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-trace" }))
      yield* eventually("both turn spans ended", () => spans.filter((s) => s.name === "Turn.run" && s.status._tag === "Ended").length === 2)
      const traces = new Set<string>()
      for (const { msgId } of pushed) {
        const handle = spans.find((s) => s.name === "Bridge.handle" && s.attributes.get("msgId") === msgId)
        assert.isDefined(handle)
        traces.add(handle!.traceId)
        const inTrace = new Set(spans.filter((s) => s.traceId === handle!.traceId).map((s) => s.name))
        for (const stage of ["Bridge.handle", "Turn.run", "Sessions.sessionFor", "OpenCodeClient.prompt", "Delivery.send", "DingTalkHttp.postJson"]) {
          assert.isTrue(inTrace.has(stage), `${stage} in the trace of ${msgId} (${[...inTrace].join(", ")})`)
        }
        const turn = spans.find((s) => s.name === "Turn.run" && s.attributes.get("msgId") === msgId)
        assert.strictEqual(turn?.traceId, handle!.traceId)
      }
      assert.strictEqual(traces.size, 2)
    }).pipe(Effect.provideService(Tracer.Tracer, tracer), Effect.scoped)
  })
})
