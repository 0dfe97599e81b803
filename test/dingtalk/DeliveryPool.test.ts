import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Delivery } from "../../src/dingtalk/Delivery.js"
import { BridgeMetrics } from "../../src/core/BridgeMetrics.js"
import { bridgeFixture } from "../support/bridge.js"

describe("Delivery against the DingTalk emulator", () => {
  it.live("100 replies share at most 10 keep-alive connections", () =>
    Effect.gen(function*() {
      const { emulator, context } = yield* bridgeFixture({ env: { DINGTALK_RATE_LIMIT: "1000" } })
      // Make 20 conversations known, as DingTalk would by pushing messages.
      for (let i = 0; i < 20; i++) emulator.pushMessage({ text: `hi ${i}`, conversationId: `cid-${i}` })
      yield* Effect.promise(() => emulator.waitForReplies(20, { timeoutMs: 10_000 }))
      const connectionsBefore = emulator.httpConnections
      yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (i) =>
        Delivery.use((d) => d.send({ conversationId: `cid-${i % 20}`, text: `reply ${i}` })).pipe(Effect.provideContext(context)),
        { concurrency: "unbounded", discard: true })
      yield* Effect.promise(() => emulator.waitForReplies(120, { timeoutMs: 10_000 }))
      assert.isAtMost(emulator.httpConnections, 10)
      assert.isAtMost(emulator.httpConnections - connectionsBefore, 10)
      const { counters } = yield* BridgeMetrics.use((m) => m.snapshot).pipe(Effect.provideContext(context))
      assert.isAtMost(counters.httpConnections, 10)
      // The bridge counts the sockets it opened: as many as the emulator accepted.
      assert.strictEqual(counters.httpConnections, emulator.httpConnections)
      assert.isAtLeast(counters.httpRequests, 121)
    }).pipe(Effect.scoped), 20_000)

  it.live("a real 130101 from DingTalk is retried and delivered once; an expired webhook falls back to the OpenAPI", () =>
    Effect.gen(function*() {
      const { emulator } = yield* bridgeFixture({ env: { DINGTALK_THROTTLE_RETRY_MS: "100" } })
      emulator.failWebhook(130101, 1, "cid-th")
      emulator.pushMessage({ text: "throttle me", conversationId: "cid-th" })
      yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-th" }))
      yield* Effect.sleep("300 millis")
      assert.strictEqual(emulator.repliesFor("cid-th").length, 1)

      emulator.pushMessage({ text: "SLOW 300", conversationId: "cid-exp", senderStaffId: "staff-exp" })
      yield* Effect.sleep("100 millis")
      emulator.expireWebhook("cid-exp")
      const [reply] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-exp" }))
      assert.strictEqual(reply!.route, "openapi-o2o")
      assert.match(reply!.text, /ECHO: SLOW 300/)
      assert.isAtLeast(emulator.tokenCalls, 1)
    }).pipe(Effect.scoped), 15_000)
})
