/**
 * Stage 2: drop redeliveries. DingTalk re-pushes un-acked messages with a new frame ID but the same
 * `msgId`, so the key is `robotCode` + `msgId`, remembered in a bounded, expiring Effect `Cache`.
 */
import { Cache, Duration, Effect } from "effect"
import type { InboundMessage } from "../dingtalk/RobotMessage.js"

/** Returns a check that is true the first time a message is seen and false for its redeliveries. */
export const makeDedup = (options: { readonly capacity: number; readonly ttlMs: number }) =>
  Effect.gen(function*() {
    const seen = yield* Cache.make({
      capacity: options.capacity,
      timeToLive: Duration.millis(options.ttlMs),
      // Never looked up: entries are only set and tested.
      lookup: (_key: string) => Effect.succeed(true),
    })
    return (message: InboundMessage): Effect.Effect<boolean> => {
      const key = `${message.robotCode}:${message.msgId}`
      return Cache.has(seen, key).pipe(
        Effect.tap((had) => (had ? Effect.void : Cache.set(seen, key, true))),
        Effect.map((had) => !had),
        Effect.withSpan("Dedup.isFirstSeen")
      )
    }
  })
