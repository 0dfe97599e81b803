/**
 * A turn shown as it happens: OpenCode's events for the session feed an AI card (answer so far plus a
 * line for the current step), or — without cards — one progress message when the turn runs long. The
 * caller still sends the markdown reply whenever the card could not hold the answer.
 */
import { Clock, Duration, Effect, Fiber } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { splitMessage } from "../dingtalk/Chunk.js"
import { type CardEnding, Cards } from "../dingtalk/Cards.js"
import { Delivery } from "../dingtalk/Delivery.js"
import { type LiveCard, makeLiveCard } from "../dingtalk/LiveCard.js"
import type { InboundMessage } from "../dingtalk/RobotMessage.js"
import { followTurn } from "../opencode/FollowTurn.js"
import { type LiveTurnState, stepText } from "../opencode/LiveTurnState.js"
import { OpenCodeClient, type PromptOptions, type PromptPart, TurnFailed, type TurnResult, TurnTimedOut } from "../opencode/OpenCodeClient.js"

/** How a live turn was shown. */
export interface LiveOutcome {
  readonly result: TurnResult
  /** The card holds the answer (up to its size); `overflow` is what still has to go out as markdown. */
  readonly onCard: boolean
  readonly overflow: string
}

/** Without cards, at most one progress message per conversation this often. */
const PROGRESS_EVERY_MS = 5 * 60_000
/** When each conversation last got a progress message, per bridge (keyed by its running-turns map). */
const progressLogs = new WeakMap<object, Map<string, number>>()

const EMPTY_ANSWER = "(OpenCode finished without a text answer.)"

/** The part of `text` a card holds, and the rest. */
export const cardSlice = (text: string, maxBytes: number): { readonly head: string; readonly rest: string } => {
  if (Buffer.byteLength(text) <= maxBytes) return { head: text, rest: "" }
  const [first] = splitMessage(text, Math.max(maxBytes, 1_000))
  const head = first?.text ?? ""
  return { head, rest: text.slice(head.length) }
}

const CONTINUED = "\n\n*(continued below)*"

/** What the card shows while the turn runs. */
export const liveContent = (state: LiveTurnState, maxBytes: number): string => {
  const { head, rest } = cardSlice(state.text(), maxBytes)
  const status = state.retrying !== undefined ? `⏳ OpenCode is retrying: ${state.retrying}` : state.step === undefined ? "" : stepText(state.step)
  return [rest === "" ? head : `${head}${CONTINUED}`, status].filter((piece) => piece !== "").join("\n\n")
}

/**
 * One "still working" message after `BRIDGE_PROGRESS_AFTER_MS`, at most one per conversation per 5 minutes,
 * naming the current step when there is one. Runs in the current scope: end the scope when the turn ends.
 */
export const progressNotice = (conversationId: string, running: object, step: () => string | undefined) =>
  Effect.gen(function*() {
    const settings = yield* BridgeConfig
    const delivery = yield* Delivery
    const metrics = yield* BridgeMetrics
    const startedAt = yield* Clock.currentTimeMillis
    return yield* Effect.forkScoped(Effect.gen(function*() {
      yield* Effect.sleep(Duration.millis(settings.cards.progressAfterMs))
      const now = yield* Clock.currentTimeMillis
      const log = progressLogs.get(running) ?? new Map<string, number>()
      progressLogs.set(running, log)
      const last = log.get(conversationId)
      if (last !== undefined && now - last < PROGRESS_EVERY_MS) return
      log.set(conversationId, now)
      const current = step()
      yield* metrics.increment("progressNotices")
      yield* delivery.send({ conversationId, text: `⏳ Still working (${Math.round((now - startedAt) / 1000)} s).${current === undefined ? "" : ` Current step: ${current}`}`, format: "text" }).pipe(Effect.ignore)
    }))
  })

/** Runs the turn in `sessionId` with live output; fails like a blocking turn would. */
export const runLiveTurn = (message: InboundMessage, sessionId: string, parts: ReadonlyArray<PromptPart>, running: object, prompt?: PromptOptions) =>
  Effect.gen(function*() {
    const settings = yield* BridgeConfig
    const cards = yield* Cards
    const metrics = yield* BridgeMetrics
    const opencode = yield* OpenCodeClient
    const conversationId = message.conversationId
    const target = { conversationId, conversationType: message.conversationType, senderStaffId: message.senderStaffId }
    const card: LiveCard | undefined = (yield* cards.usable(target)) ? yield* makeLiveCard(target) : undefined
    let latest: LiveTurnState | undefined

    // Without a card: one short message naming the current step when the turn runs long.
    const progress = card !== undefined
      ? undefined
      : yield* progressNotice(conversationId, running, () => (latest?.step === undefined ? undefined : stepText(latest.step)))

    const changed = (state: LiveTurnState) =>
      Effect.suspend(() => {
        latest = state
        if (card === undefined || !state.hasOutput()) return Effect.void
        return card.show(() => liveContent(state, cards.maxBytes), state.text() !== "")
      })

    const finishCard = (state: LiveTurnState, ending: CardEnding, note: string) =>
      Effect.gen(function*() {
        if (card === undefined) return { onCard: false, overflow: "" }
        const text = state.text()
        const { head, rest } = cardSlice(text === "" && ending === "done" ? EMPTY_ANSWER : text, cards.maxBytes)
        const content = [rest === "" ? head : `${head}${CONTINUED}`, note].filter((piece) => piece !== "").join("\n\n")
        const held = yield* card.finish(content, ending)
        yield* metrics.increment("cardTurns")
        const firstTextAt = card.firstTextAt()
        if (firstTextAt !== undefined && state.firstTextAt !== undefined) yield* metrics.observe("firstCardUpdate", Math.max(0, firstTextAt - state.firstTextAt))
        return { onCard: held, overflow: held ? rest : "" }
      })

    const followed = yield* followTurn({ sessionId, parts, ...(prompt === undefined ? {} : { prompt }), timeoutMs: settings.opencode.turnTimeoutMs, changed }).pipe(
      Effect.ensuring(progress === undefined ? Effect.void : Fiber.interrupt(progress)),
      // Shutting down mid-turn: the turn stops in OpenCode (a busy session would swallow the next prompt) and the
      // card does not keep spinning. Bounded: the shutdown must go on.
      Effect.onInterrupt(() =>
        Effect.all([
          opencode.abort(sessionId),
          latest === undefined ? Effect.void : finishCard(latest, "failed", "⚠️ Interrupted: the bridge is restarting. Send your message again."),
        ], { concurrency: 2, discard: true }).pipe(Effect.timeout(Duration.seconds(3)), Effect.ignore)
      )
    )
    const state = followed.state
    if (followed._tag === "TimedOut") {
      const error = new TurnTimedOut({ sessionId, timeoutMs: settings.opencode.turnTimeoutMs })
      yield* finishCard(state, "failed", `⚠️ ${error.message}`)
      return yield* error
    }
    if (state.aborted) {
      const shown = yield* finishCard(state, "stopped", "⏹ Stopped.")
      return { result: { _tag: "Aborted" }, ...shown } satisfies LiveOutcome
    }
    if (state.error !== undefined) {
      const error = new TurnFailed({ sessionId, name: state.error.name ?? "error", detail: describe(state.error.data) })
      // Like the chat reply: the error's name only; details stay in the operator's logs.
      yield* finishCard(state, "failed", `⚠️ The agent stopped with an error (${error.name.replace(/[^\w.-]/g, "").slice(0, 60)}).`)
      return yield* error
    }
    const shown = yield* finishCard(state, "done", "")
    return { result: { _tag: "Answered", text: state.text() }, ...shown } satisfies LiveOutcome
  }).pipe(Effect.scoped)

const describe = (data: unknown): string => {
  if (typeof data === "object" && data !== null && "message" in data && typeof data.message === "string") return data.message
  return data === undefined ? "no details" : JSON.stringify(data).slice(0, 300)
}
