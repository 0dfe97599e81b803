/**
 * One AI card that follows a growing answer: created by the first `show`, then updated with the full
 * text at most every `DINGTALK_CARD_UPDATE_MS`, one call in flight, the newest text winning. `finish`
 * waits for the call in flight, skips the pending update and always sends the final text (retried
 * after a QPS limit). A failure gives the card up (and pauses cards): the caller sends markdown.
 */
import { Clock, Duration, Effect, Fiber, Option, Queue, Schedule, type Scope } from "effect"
import { randomUUID } from "node:crypto"
import { type CardEnding, type CardFailed, Cards, type CardTarget } from "./Cards.js"

/** A card following one turn. */
export interface LiveCard {
  readonly outTrackId: string
  /**
   * Shows the content soon (creates the card on the first call); returns at once. `render` is called only
   * when a call goes out, so a fast stream of changes costs one rendering per update, not one per change.
   */
  readonly show: (render: () => string, hasText: boolean) => Effect.Effect<void>
  /** Ends the card with `content`: true when the card holds it, false when the caller must send it as markdown. */
  readonly finish: (content: string, ending: CardEnding) => Effect.Effect<boolean>
  /** The card failed and was given up. */
  readonly failed: () => boolean
  /** When the first text became visible (the create or an update carrying text completed). */
  readonly firstTextAt: () => number | undefined
  /** Streaming updates sent (the create and the finalize not counted). */
  readonly updates: () => number
}

/** Throttled updates are tried this many times in a row before the card is given up. */
const THROTTLED_STREAK = 3
/** The final text is retried after a QPS limit, spaced out. */
const finalRetry = Schedule.spaced(Duration.millis(1_500)).pipe(Schedule.upTo({ times: 5 }))

/** A card for `target`; its updates run in the current scope. */
export const makeLiveCard = (target: CardTarget): Effect.Effect<LiveCard, never, Cards | Scope.Scope> =>
  Effect.gen(function*() {
    const cards = yield* Cards
    const outTrackId = `card_${randomUUID()}`
    // Capacity one, sliding: a newer text replaces one not yet sent.
    const latest = yield* Queue.sliding<{ render: () => string; hasText: boolean }>(1)
    let created = false
    let failed = false
    let lastCallAt = 0
    let updates = 0
    let streak = 0
    let firstTextAt: number | undefined

    const giveUp = (error: CardFailed) =>
      Effect.gen(function*() {
        failed = true
        yield* Effect.logWarning("AI card given up; the answer goes out as markdown").pipe(Effect.annotateLogs({ outTrackId, error: error.message }))
        yield* cards.pause(error)
      })

    const sendOne = (item: { render: () => string; hasText: boolean }) =>
      Effect.gen(function*() {
        const content = item.render()
        const result = yield* Effect.result(created ? cards.stream(outTrackId, content, false) : cards.create(target, outTrackId, content))
        // Spacing counts from the end of a call, so no two calls ever arrive closer than the interval.
        lastCallAt = yield* Clock.currentTimeMillis
        if (result._tag === "Failure") {
          const error = result.failure
          // A QPS limit on an update is skipped: the next update carries the full text again.
          if (created && error.throttled && ++streak < THROTTLED_STREAK) return
          return yield* giveUp(error)
        }
        streak = 0
        if (created) updates++
        created = true
        if (item.hasText && firstTextAt === undefined) firstTextAt = yield* Clock.currentTimeMillis
      })

    const pump = Effect.gen(function*() {
      while (!failed) {
        let item = yield* Queue.take(latest)
        if (created) {
          const wait = lastCallAt + cards.updateMs - (yield* Clock.currentTimeMillis)
          if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
          item = Option.getOrElse(yield* Queue.poll(latest), () => item)
        }
        // A call in flight is finished even when the card is being finalized.
        yield* Effect.uninterruptible(sendOne(item))
      }
    })
    const pumpFiber = yield* Effect.forkScoped(pump)

    const finish = (content: string, ending: CardEnding) =>
      Effect.gen(function*() {
        yield* Fiber.interrupt(pumpFiber)
        if (failed || !created) return false
        const final = yield* cards.stream(outTrackId, content, true).pipe(
          Effect.retry({ schedule: finalRetry, while: (error) => error.throttled }),
          Effect.result
        )
        if (final._tag === "Failure") {
          yield* giveUp(final.failure)
          return false
        }
        yield* cards.finish(outTrackId, content, ending).pipe(
          Effect.retry({ schedule: finalRetry, while: (error) => error.throttled }),
          // The text is on the card already; only its status line is stale.
          Effect.catch((error) => Effect.logWarning("Card status not updated").pipe(Effect.annotateLogs({ outTrackId, error: error.message })))
        )
        return true
      })

    return {
      outTrackId,
      show: (render, hasText) => failed ? Effect.void : Queue.offer(latest, { render, hasText }).pipe(Effect.asVoid),
      finish,
      failed: () => failed,
      firstTextAt: () => firstTextAt,
      updates: () => updates,
    }
  })
