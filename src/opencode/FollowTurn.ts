/**
 * One turn over the event stream: subscribe, `prompt_async` with our own user message ID, fold the
 * session's events until it goes idle (twice after an abort), re-read status and messages after a
 * gap in the stream, and abort the turn in OpenCode when it runs past the timeout.
 */
import { Clock, Effect, Option, PubSub, Random } from "effect"
import { LiveTurnState } from "./LiveTurnState.js"
import {
  OpenCodeClient, type OpenCodeRequestFailed, type OpenCodeUnreachable, type PromptOptions, type PromptPart, type SessionNotFound,
} from "./OpenCodeClient.js"
import { OpenCodeEvents, sessionIdOf } from "./OpenCodeEvents.js"

/** How a followed turn ended; the state holds the text so far. */
export type FollowedTurn =
  | { readonly _tag: "Idle"; readonly state: LiveTurnState }
  | { readonly _tag: "TimedOut"; readonly state: LiveTurnState }

/** After an abort, how long to wait for OpenCode's second idle (and the partial text before it). */
const ABORT_GRACE_MS = 2_000

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/**
 * A user message ID in OpenCode's own format (`msg_` + 12 hex digits of time·4096+counter + 14 base62),
 * so it sorts after the session's earlier messages and names this turn's assistant messages' parent.
 */
export const newMessageId = Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  const counter = yield* Random.nextIntBetween(1, 4095)
  const hex = (BigInt(now) * 4096n + BigInt(counter)).toString(16).padStart(12, "0").slice(-12)
  let tail = ""
  for (let i = 0; i < 14; i++) tail += BASE62[yield* Random.nextIntBetween(0, 61)]
  return `msg_${hex}${tail}`
})

/** Runs a turn; `changed` is called after every visible change (it should return quickly). */
export const followTurn = (options: {
  readonly sessionId: string
  readonly parts: ReadonlyArray<PromptPart>
  readonly prompt?: PromptOptions
  readonly timeoutMs: number
  readonly changed: (state: LiveTurnState) => Effect.Effect<void>
}): Effect.Effect<FollowedTurn, OpenCodeUnreachable | OpenCodeRequestFailed | SessionNotFound, OpenCodeClient | OpenCodeEvents> =>
  Effect.gen(function*() {
    const opencode = yield* OpenCodeClient
    const events = yield* OpenCodeEvents
    const { sessionId } = options
    const userMessageId = options.prompt?.messageID ?? (yield* newMessageId)
    const state = new LiveTurnState(sessionId, userMessageId)
    // Subscribed before the prompt goes out, so not one event of the turn is missed.
    const subscription = yield* events.subscribe
    yield* opencode.promptAsync(sessionId, options.parts, { ...options.prompt, messageID: userMessageId })

    const resync = Effect.gen(function*() {
      const statuses = yield* opencode.sessionStatus
      const history = yield* opencode.messages(sessionId)
      const status = statuses[sessionId]
      yield* Effect.logInfo("Re-read the turn after an event-stream gap").pipe(Effect.annotateLogs({ sessionId, status: status?.type ?? "idle" }))
      state.resync(history, status !== undefined && status.type !== "idle", yield* Clock.currentTimeMillis)
      yield* options.changed(state)
    }).pipe(
      // OpenCode may still be coming back: the next `server.connected` tries again.
      Effect.catch((error) => Effect.logWarning("Could not re-read the turn").pipe(Effect.annotateLogs({ sessionId, error: error.message })))
    )

    const follow = Effect.gen(function*() {
      let abortGraceUntil: number | undefined
      while (!state.finished) {
        const now = yield* Clock.currentTimeMillis
        if (abortGraceUntil !== undefined && now >= abortGraceUntil) break
        const next = abortGraceUntil === undefined
          ? Option.some(yield* PubSub.take(subscription))
          : yield* PubSub.take(subscription).pipe(Effect.timeoutOption(abortGraceUntil - now))
        if (Option.isNone(next)) break
        const event = next.value
        if (event.type === "server.connected") {
          yield* resync
          continue
        }
        if (sessionIdOf(event) !== sessionId) continue
        if (state.apply(event, yield* Clock.currentTimeMillis)) yield* options.changed(state)
        if (state.aborted && state.idles === 1 && abortGraceUntil === undefined) abortGraceUntil = (yield* Clock.currentTimeMillis) + ABORT_GRACE_MS
      }
      return { _tag: "Idle", state } as FollowedTurn
    })

    return yield* follow.pipe(
      Effect.timeoutOrElse({
        duration: options.timeoutMs,
        orElse: () =>
          opencode.abort(sessionId).pipe(
            Effect.ignore,
            Effect.as({ _tag: "TimedOut", state } as FollowedTurn)
          ),
      })
    )
  }).pipe(Effect.scoped, Effect.withSpan("followTurn"))
