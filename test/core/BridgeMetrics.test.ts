/**
 * The bridge's metrics: the queue gauges keep the deepest queue seen, and two bridges' metrics (two
 * layers) never mix.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { BridgeMetrics } from "../../src/core/BridgeMetrics.js"

describe("BridgeMetrics", () => {
  it.effect("setQueue sets waiting and running, and keeps the deepest queue so far", () =>
    Effect.gen(function*() {
      const metrics = yield* BridgeMetrics
      yield* metrics.setQueue(4, 3)
      yield* metrics.setQueue(1, 2)
      assert.deepStrictEqual((yield* metrics.snapshot).gauges, { queueDepth: 1, queueDepthMax: 4, inFlight: 2 })
      yield* metrics.setQueue(0, 0)
      assert.deepStrictEqual((yield* metrics.snapshot).gauges, { queueDepth: 0, queueDepthMax: 4, inFlight: 0 })
      const text = yield* metrics.prometheus
      assert.match(text, /dingtalk_bridge_queue_depth_max\S* 4/)
      assert.match(text, /dingtalk_bridge_in_flight\S* 0/)
    }).pipe(Effect.provide(BridgeMetrics.layer)))

  it.effect("each layer has metrics of its own", () =>
    Effect.gen(function*() {
      const first = yield* BridgeMetrics.use(Effect.succeed).pipe(Effect.provide(BridgeMetrics.layer))
      const second = yield* BridgeMetrics.use(Effect.succeed).pipe(Effect.provide(BridgeMetrics.layer))
      yield* first.setQueue(5, 1)
      yield* first.increment("received", 2)
      const other = yield* second.snapshot
      assert.deepStrictEqual(other.gauges, { queueDepth: 0, queueDepthMax: 0, inFlight: 0 })
      assert.strictEqual(other.counters.received, 0)
      assert.strictEqual((yield* first.snapshot).counters.received, 2)
    }))
})
