/**
 * At most `limit` sends per key in ANY window of `windowMs` (a sliding window, as DingTalk counts:
 * 20 per 60 s per robot). Over the limit a send waits; it is never dropped.
 *
 * Each key has `limit` slots. A send holds a slot from before its request leaves until its answer
 * arrives, and the slot is free again only `windowMs` after that answer. DingTalk saw the request
 * before we saw the answer, so two sends that reuse one slot reach DingTalk more than a window apart,
 * whatever the network delay: no window can hold more than `limit` of them.
 */
import { Clock, Context, Deferred, Duration, Effect, Exit, Layer, Semaphore } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"

/** The limit and the window it applies to. */
export interface SendLimits {
  readonly limit: number
  readonly windowMs: number
}

interface KeyState {
  /** Sends started and not yet answered: their slots are taken for at least a window more. */
  inFlight: number
  /** When each answered send's slot frees, oldest first (answers come in time order). */
  readonly freeAt: Array<number>
  /** One acquirer at a time, first come first served. */
  readonly turn: Semaphore.Semaphore
  /** Completed (and replaced) whenever an in-flight send finishes. */
  finished: Deferred.Deferred<void>
}

/** Paces sends per key. */
export class SendLimiter extends Context.Service<SendLimiter, {
  /** Runs `effect` once the key has a free slot in the sliding window; the slot counts from start to end of `effect`. */
  readonly withPermit: (key: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}>()("dingtalk-mcp-server/SendLimiter") {
  /** Slots kept in this process's memory, for the given limits. */
  static readonly layerMemory = (limits: SendLimits) => Layer.sync(SendLimiter, () => makeMemory(limits))

  /** Slots in memory, limits from `DINGTALK_RATE_LIMIT` and `DINGTALK_RATE_WINDOW_MS`. */
  static readonly layer = Layer.unwrap(BridgeConfig.use((settings) =>
    Effect.succeed(SendLimiter.layerMemory({ limit: settings.delivery.rateLimit, windowMs: settings.delivery.rateWindowMs }))
  ))
}

const makeMemory = ({ limit, windowMs }: SendLimits) => {
  const keys = new Map<string, KeyState>()
  const stateOf = (key: string) => {
    let state = keys.get(key)
    if (state === undefined) {
      keys.set(key, state = { inFlight: 0, freeAt: [], turn: Semaphore.makeUnsafe(1), finished: Deferred.makeUnsafe<void>() })
    }
    return state
  }

  // Waits for a free slot and takes it; holding `turn` keeps waiting sends in order.
  const take = (state: KeyState): Effect.Effect<void> =>
    Effect.gen(function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        // Taken before looking at the slots, so a send finishing after the look still wakes us.
        const finished = state.finished
        let expired = 0
        while (expired < state.freeAt.length && state.freeAt[expired]! <= now) expired++
        if (expired > 0) state.freeAt.splice(0, expired)
        if (state.inFlight + state.freeAt.length < limit) {
          state.inFlight++
          return
        }
        if (state.freeAt.length === 0) yield* Deferred.await(finished) // every slot in flight: wait for one to finish
        else yield* Effect.sleep(Duration.millis(state.freeAt[0]! - now))
      }
    }).pipe(Semaphore.withPermit(state.turn))

  const finish = (state: KeyState) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      state.inFlight--
      state.freeAt.push(now + windowMs)
      const finished = state.finished
      state.finished = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(finished, Exit.void)
    })

  return SendLimiter.of({
    withPermit: (key) => (effect) => {
      const state = stateOf(key)
      return Effect.acquireUseRelease(take(state), () => effect, () => finish(state))
    },
  })
}
