/**
 * The bridge's counters, gauges and latency summaries (Effect `Metric`), kept in a registry of its
 * own so that two bridges in one process (tests, embedders) never mix their numbers.
 */
import { Context, Effect, Layer, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"

/** Counters, by what they count. */
export const counterNames = [
  "received", "duplicates", "malformed", "unsupported", "denied", "busy", "commands",
  "pairingCodes", "noticesSuppressed",
  "processed", "failed", "timedOut", "aborted",
  "replies", "replyParts", "replyFailures", "openApiFallbacks", "throttleRetries", "rateLimitWaitMs",
  "httpRequests", "httpConnections",
  "cardsCreated", "cardUpdates", "cardTurns", "cardFallbacks", "progressNotices",
  "attachmentsSaved", "attachmentsFailed", "mediaSent",
] as const
/** One of the counters. */
export type CounterName = typeof counterNames[number]

/** Latency summaries (milliseconds). */
export const latencyNames = ["turn", "overhead", "queueWait", "delivery", "firstCardUpdate"] as const
/** One of the latency summaries. */
export type LatencyName = typeof latencyNames[number]

/** Gauges. */
export const gaugeNames = ["queueDepth", "queueDepthMax", "inFlight"] as const
/** One of the gauges. */
export type GaugeName = typeof gaugeNames[number]

/** p50 / p99 and friends of one latency summary. */
export interface LatencyFigures {
  readonly count: number
  readonly p50: number | undefined
  readonly p90: number | undefined
  readonly p99: number | undefined
  readonly max: number | undefined
}

/** Every metric's current value. */
export interface MetricsSnapshot {
  readonly counters: Record<CounterName, number>
  readonly gauges: Record<GaugeName, number>
  readonly latency: Record<LatencyName, LatencyFigures>
}

const snake = (name: string) => `dingtalk_bridge_${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`

/** The bridge's metrics. */
export class BridgeMetrics extends Context.Service<BridgeMetrics, {
  readonly increment: (name: CounterName, by?: number) => Effect.Effect<void>
  /** The queue gauges: turns waiting and running now (the deepest queue so far is kept with them). */
  readonly setQueue: (waiting: number, inFlight: number) => Effect.Effect<void>
  readonly observe: (name: LatencyName, millis: number) => Effect.Effect<void>
  readonly snapshot: Effect.Effect<MetricsSnapshot>
  /** Every metric in Prometheus text format (for `/metrics`). */
  readonly prometheus: Effect.Effect<string>
}>()("dingtalk-mcp-server/BridgeMetrics") {
  /** A fresh, isolated set of metrics. */
  static readonly layer = Layer.sync(BridgeMetrics, () => {
    const registry: Metric.MetricRegistry = new Map()
    const isolated = <A>(effect: Effect.Effect<A>) => Effect.provideService(effect, Metric.MetricRegistry, registry)
    const registryContext = Context.make(Metric.MetricRegistry, registry) as Context.Context<never>
    const counters = Object.fromEntries(counterNames.map((n) => [n, Metric.counter(`${snake(n)}_total`, { incremental: true })])) as Record<CounterName, Metric.Counter<number>>
    const gauges = Object.fromEntries(gaugeNames.map((n) => [n, Metric.gauge(snake(n))])) as Record<GaugeName, Metric.Gauge<number>>
    const summaries = Object.fromEntries(latencyNames.map((n) => [
      n,
      Metric.summary(snake(`${n}Ms`), { maxAge: "10 minutes", maxSize: 10_000, quantiles: [0.5, 0.9, 0.99] }),
    ])) as Record<LatencyName, Metric.Summary<number>>

    const figures = (name: LatencyName) =>
      Metric.value(summaries[name]).pipe(Effect.map((state): LatencyFigures => {
        const q = (p: number) => state.quantiles.find(([quantile]) => quantile === p)?.[1]
        return { count: state.count, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: state.count > 0 ? state.max : undefined }
      }))

    const collect = <K extends string, V>(names: ReadonlyArray<K>, read: (name: K) => Effect.Effect<V>) =>
      Effect.forEach(names, (name) => Effect.map(read(name), (value) => [name, value] as const)).pipe(
        Effect.map((entries) => Object.fromEntries(entries) as Record<K, V>)
      )

    let maxWaiting = 0
    const service = BridgeMetrics.of({
      // Updates run on the message path several times per message: straight into the registry, instead of
      // providing it to an effect (which copies the caller's whole context each time; measured in allocations).
      increment: (name, by = 1) => Effect.sync(() => counters[name].updateUnsafe(by, registryContext)),
      setQueue: (waiting, inFlight) =>
        Effect.sync(() => {
          maxWaiting = Math.max(maxWaiting, waiting)
          gauges.queueDepth.updateUnsafe(waiting, registryContext)
          gauges.queueDepthMax.updateUnsafe(maxWaiting, registryContext)
          gauges.inFlight.updateUnsafe(inFlight, registryContext)
        }),
      observe: (name, millis) => Effect.sync(() => summaries[name].updateUnsafe(millis, registryContext)),
      snapshot: isolated(Effect.all({
        counters: collect(counterNames, (n) => Effect.map(Metric.value(counters[n]), (s) => s.count)),
        gauges: collect(gaugeNames, (n) => Effect.map(Metric.value(gauges[n]), (s) => s.value)),
        latency: collect(latencyNames, figures),
      })),
      prometheus: isolated(PrometheusMetrics.format()),
    })
    // Reading every metric once registers it, so /metrics lists the ones still at zero too.
    Effect.runSync(service.snapshot)
    return service
  })
}
