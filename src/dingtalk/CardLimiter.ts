/**
 * One card-API budget for the whole bridge: DingTalk limits calls per app and per API (about 20 a
 * second on standard editions), so every conversation's card calls share a limiter keyed per API.
 * Calls over the budget wait for the next window instead of failing.
 */
import { Context, Duration, Effect, Layer } from "effect"
import { RateLimiter } from "effect/persistence"
import { BridgeConfig, robotCodeOf } from "../core/BridgeConfig.js"

/** The card APIs, each with its own budget. */
export type CardApi = "create" | "streaming" | "instances"

/** Shared pacing of card API calls. */
export class CardLimiter extends Context.Service<CardLimiter, {
  /** Runs `effect` once the API's budget allows it. */
  readonly limit: <A, E, R>(api: CardApi, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}>()("dingtalk-mcp-server/CardLimiter") {
  /** `DINGTALK_CARD_QPS` calls per second per API, for this robot. */
  static readonly layer = Layer.effect(
    CardLimiter,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const withLimiter = yield* RateLimiter.makeWithRateLimiter
      const robotCode = robotCodeOf(settings)
      const window = Duration.seconds(1)
      return CardLimiter.of({
        limit: <A, E, R>(api: CardApi, effect: Effect.Effect<A, E, R>) =>
          effect.pipe(
            withLimiter({ key: `card:${api}:${robotCode}`, limit: settings.cards.qps, window, onExceeded: "delay", algorithm: "fixed-window" }),
            // The in-memory store does not fail; a broken store is a defect, not a card failure.
            Effect.catchTag("RateLimiterError", (error) => Effect.die(error))
          ) as Effect.Effect<A, E, R>,
      })
    })
  )
}
