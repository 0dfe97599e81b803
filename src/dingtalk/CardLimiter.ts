/**
 * One card-API budget for the whole bridge: DingTalk limits calls per app and per API (about 20 a
 * second on standard editions), so every conversation's card calls share a sliding-window limiter
 * keyed per API. Calls over the budget wait instead of failing.
 */
import { Context, Effect, Layer } from "effect"
import { BridgeConfig, robotCodeOf } from "../core/BridgeConfig.js"
import { SendLimiter } from "./SendLimiter.js"

/** The card APIs, each with its own budget. */
export type CardApi = "create" | "streaming" | "instances"

/** Shared pacing of card API calls. */
export class CardLimiter extends Context.Service<CardLimiter, {
  /** Runs `effect` once the API's budget allows it. */
  readonly limit: <A, E, R>(api: CardApi, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}>()("dingtalk-mcp-server/CardLimiter") {
  /** `DINGTALK_CARD_QPS` calls in any second, per API, for this robot (its own limiter, apart from replies). */
  static readonly layer = Layer.unwrap(BridgeConfig.use((settings) =>
    Effect.succeed(
      Layer.effect(
        CardLimiter,
        Effect.gen(function*() {
          const sends = yield* SendLimiter
          const robotCode = robotCodeOf(settings)
          return CardLimiter.of({ limit: (api, effect) => sends.withPermit(`card:${api}:${robotCode}`)(effect) })
        })
      ).pipe(Layer.provide(SendLimiter.layerMemory({ limit: settings.cards.qps, windowMs: 1_000 })))
    )
  ))
}
