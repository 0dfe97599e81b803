/**
 * Stage 5: one agent turn — the conversation's OpenCode session, the prompt, the answer back through
 * `Delivery`. Failures become a reply the user can act on; the stream goes on.
 */
import { Clock, Effect } from "effect"
import { conversationLabel, type InboundMessage } from "../dingtalk/RobotMessage.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { Messages } from "../core/Messages.js"
import { Delivery } from "../dingtalk/Delivery.js"
import { OpenCodeClient, type PromptPart, textPrompt } from "../opencode/OpenCodeClient.js"
import { Sessions } from "../opencode/Sessions.js"
import { ChatSettings } from "./ChatSettings.js"
import type { TurnJournal } from "./Inbox.js"
import { OpenCodeEvents } from "../opencode/OpenCodeEvents.js"
import { explain } from "./Explain.js"
import { type LiveOutcome, progressNotice, runLiveTurn } from "./LiveTurn.js"

/** How long a turn waits for OpenCode's event stream to open (at start-up) before using the blocking call. */
const LIVE_WAIT_MS = 3_000

export { explain } from "./Explain.js"

/** Sessions with a turn running, by conversation: `/stop` aborts them. */
export type RunningTurns = Map<string, string>

/**
 * Runs the turn once its prompt parts are ready (see `PromptParts.prepare`). No parts means nothing was
 * left to send (the user has been told why): the message is done without a turn.
 */
export const runTurnWhenReady = <E, R>(
  message: InboundMessage, parts: Effect.Effect<ReadonlyArray<PromptPart>, E, R>, running: RunningTurns, queuedAt: number, journal?: TurnJournal
) =>
  parts.pipe(Effect.flatMap((ready) => ready.length === 0 ? (journal?.delivered ?? Effect.void) : runTurn(message, ready, running, queuedAt, journal)))

/** Runs one turn for a message and delivers the answer (or the reason there is none). */
export const runTurn = (message: InboundMessage, text: string | ReadonlyArray<PromptPart>, running: RunningTurns, queuedAt: number, journal?: TurnJournal) =>
  Effect.gen(function*() {
    const sessions = yield* Sessions
    const opencode = yield* OpenCodeClient
    const delivery = yield* Delivery
    const metrics = yield* BridgeMetrics
    const messages = yield* Messages
    const conversationId = message.conversationId
    // With a durable inbox, a reply and the record that it went out are one step.
    const send = (request: Parameters<typeof delivery.send>[0]) =>
      journal === undefined ? delivery.send(request) : journal.deliver(delivery.send({ ...request, onPartSending: journal.sending }))
    const startedAt = yield* Clock.currentTimeMillis
    yield* metrics.observe("queueWait", startedAt - queuedAt)

    const events = yield* OpenCodeEvents
    const ask = Effect.gen(function*() {
      const sessionId = yield* sessions.sessionFor(conversationId, conversationLabel(message))
      running.set(conversationId, sessionId)
      const requestAt = yield* Clock.currentTimeMillis
      const choice = yield* (yield* ChatSettings).promptOptions(conversationId)
      // With a durable inbox the prompt carries a messageID recorded first, so a restart can find its reply.
      const messageId = journal === undefined ? undefined : yield* journal.prompting(sessionId)
      const promptOptions = messageId === undefined ? choice : { ...choice, messageID: messageId }
      // Live (event stream, AI card) when OpenCode's event stream is open; otherwise the blocking call.
      const live = yield* events.awaitConnected(LIVE_WAIT_MS)
      const prompt = typeof text === "string" ? textPrompt(text) : text
      const outcome: LiveOutcome = yield* (live
        ? runLiveTurn(message, sessionId, prompt, running, promptOptions)
        : progressNotice(conversationId, running, () => undefined).pipe(
          // No event stream: the blocking call, still with a progress message when it runs long.
          Effect.andThen(opencode.prompt(sessionId, prompt, promptOptions)),
          Effect.map((result) => ({ result, onCard: false, overflow: "" })),
          Effect.scoped
        ))
        .pipe(Effect.ensuring(Effect.sync(() => running.delete(conversationId))))
      const answeredAt = yield* Clock.currentTimeMillis
      yield* metrics.observe("turn", answeredAt - requestAt)
      return { result: outcome.result, onCard: outcome.onCard, overflow: outcome.overflow, beforeRequest: requestAt - startedAt, answeredAt }
    })
    // A session deleted in OpenCode is replaced once, transparently.
    const outcome = yield* ask.pipe(
      Effect.catchTag("SessionNotFound", () => sessions.forget(conversationId).pipe(Effect.andThen(ask))),
      Effect.result
    )

    if (outcome._tag === "Failure") {
      const error = outcome.failure
      yield* metrics.increment(error._tag === "TurnTimedOut" ? "timedOut" : "failed")
      yield* Effect.logWarning("OpenCode turn failed").pipe(Effect.annotateLogs({ error: error.message }))
      return yield* send({ conversationId, text: messages.text("turn.failedPrefix", { reason: explain(error, messages) }), format: "text" })
    }

    const { result, beforeRequest, answeredAt, onCard, overflow } = outcome.success
    if (onCard) {
      // The card holds the answer; only what outgrew it goes out as markdown.
      if (result._tag === "Aborted") yield* metrics.increment("aborted")
      if (overflow.trim() !== "") yield* send({ conversationId, text: overflow, format: "markdown" })
      yield* metrics.increment("processed")
      return yield* Effect.logInfo("Answered on a card").pipe(Effect.annotateLogs({ overflowBytes: Buffer.byteLength(overflow) }))
    }
    const reply = result._tag === "Aborted"
      ? { text: messages.text("turn.stopped"), format: "text" as const }
      : { text: result.text.trim() === "" ? messages.text("turn.emptyAnswer") : result.text, format: "markdown" as const }
    if (result._tag === "Aborted") yield* metrics.increment("aborted")
    const deliverAt = yield* Clock.currentTimeMillis
    yield* metrics.observe("overhead", beforeRequest + (deliverAt - answeredAt))
    const receipt = yield* send({ conversationId, ...reply })
    yield* metrics.increment("processed")
    yield* Effect.logInfo("Answered").pipe(Effect.annotateLogs({ parts: receipt.parts, routes: receipt.routes.join(",") }))
  }).pipe(
    Effect.catch((error) => Effect.logError("Reply could not be delivered").pipe(Effect.annotateLogs({ error: error.message }))),
    // Not on interruption (shutdown): the message stays in the inbox and is resumed on the next start.
    Effect.andThen(journal === undefined ? Effect.void : journal.delivered),
    Effect.withSpan("Turn.run", { attributes: { conversationId: message.conversationId, msgId: message.msgId } }),
    Effect.annotateLogs({ conversationId: message.conversationId, msgId: message.msgId })
  )
