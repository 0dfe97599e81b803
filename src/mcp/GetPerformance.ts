/** `dingtalk_get_performance`: queue, concurrency, latency and memory figures. */
import { Effect, Schema } from "effect"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { asJson, defineTool } from "./Tool.js"

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10

/** The tool. */
export const getPerformance = defineTool({
  name: "dingtalk_get_performance",
  annotations: { title: "DingTalk bridge performance", readOnlyHint: true, openWorldHint: false },
  description:
    "Show the DingTalk bridge's performance: queue depth (now and max), OpenCode turns in flight, latency (p50/p90/p99 ms) " +
    "of OpenCode turns, queue wait, the bridge's own overhead and reply delivery, AI cards (OpenCode's first text → first card update p50/p99, " +
    "updates per turn, fallbacks), rate-limit waiting, HTTP connection reuse and memory use.",
  input: Schema.Struct({}),
  run: () =>
    Effect.gen(function*() {
      const snapshot = yield* BridgeMetrics.use((metrics) => metrics.snapshot)
      const memory = process.memoryUsage()
      const performance = {
        queue: { depth: snapshot.gauges.queueDepth, maxDepth: snapshot.gauges.queueDepthMax, inFlight: snapshot.gauges.inFlight },
        latencyMs: snapshot.latency,
        cards: {
          firstTextToCardMs: snapshot.latency.firstCardUpdate,
          turns: snapshot.counters.cardTurns,
          updatesPerTurn: snapshot.counters.cardTurns === 0 ? null : Math.round((snapshot.counters.cardUpdates / snapshot.counters.cardTurns) * 10) / 10,
          fallbacks: snapshot.counters.cardFallbacks,
        },
        rateLimitWaitMs: snapshot.counters.rateLimitWaitMs,
        http: { requests: snapshot.counters.httpRequests, newConnections: snapshot.counters.httpConnections },
        memoryMb: { rss: mb(memory.rss), heapUsed: mb(memory.heapUsed) },
      }
      return { text: asJson(performance), structured: performance }
    }),
})
