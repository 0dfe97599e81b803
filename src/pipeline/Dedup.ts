/**
 * Stage 2: drop redeliveries. DingTalk re-pushes un-acked messages with a new frame ID but the same
 * `msgId`, so the key is `robotCode` + `msgId`, remembered for `ttlMs`, at most `capacity` keys (oldest go first).
 * A Map rather than Effect's `Cache`: `Cache.set` starts a fiber per entry, that is one per message.
 */
import { Clock, Effect } from "effect"
import type { InboundMessage } from "../dingtalk/RobotMessage.js"

/** Returns a check that is true the first time a message is seen and false for its redeliveries. */
export const makeDedup = (options: { readonly capacity: number; readonly ttlMs: number }) =>
  Effect.sync(() => {
    // Key → when it is forgotten. Insertion order is age order (every key lives `ttlMs`), so the first is the oldest.
    const seen = new Map<string, number>()
    return (message: InboundMessage): Effect.Effect<boolean> =>
      Clock.currentTimeMillis.pipe(
        Effect.map((now) => {
          const key = `${message.robotCode}:${message.msgId}`
          const forgetAt = seen.get(key)
          if (forgetAt !== undefined && forgetAt > now) return false
          seen.delete(key)
          seen.set(key, now + options.ttlMs)
          if (seen.size > options.capacity) seen.delete(seen.keys().next().value!)
          return true
        }),
        Effect.withSpan("Dedup.isFirstSeen")
      )
  })
