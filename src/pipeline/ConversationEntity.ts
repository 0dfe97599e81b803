/**
 * Cluster mode's turns: each DingTalk conversation is an Effect Cluster entity. The instance that got a
 * push stores it as a `Prompt` to that entity (in PostgreSQL, deduplicated by `robotCode:msgId`), in
 * arrival order; the runner that owns the conversation runs its prompts one at a time. When a runner
 * dies, its conversations move and the unfinished prompt runs again on the new owner — which first looks
 * the turn up in OpenCode (the prompt's ID ends in a tail derived from the message) and delivers an
 * answer OpenCode already has instead of asking twice.
 */
import { Clock, Effect, Layer, Option, Schedule, Schema, Semaphore } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { SqlClient } from "effect/sql"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { Messages } from "../core/Messages.js"
import { Delivery } from "../dingtalk/Delivery.js"
import { conversationLabel, type InboundMessage } from "../dingtalk/RobotMessage.js"
import { derivedTail, messageIdWithTail } from "../opencode/MessageId.js"
import { OpenCodeClient } from "../opencode/OpenCodeClient.js"
import { Sessions } from "../opencode/Sessions.js"
import { OpenCodeEvents } from "../opencode/OpenCodeEvents.js"
import { Cards } from "../dingtalk/Cards.js"
import { turnOf } from "../opencode/TurnLookup.js"
import type { InboxEntry, TurnJournal } from "./Inbox.js"
import { ChatChoices } from "./ChatChoices.js"
import { ClusterTurns } from "./ClusterTurns.js"
import { Interactions } from "./Interactions.js"
import { resumeTurn } from "./Resume.js"
import { makePromptParts, type PromptParts } from "./PromptParts.js"
import { type RunningTurns, runTurnWhenReady } from "./Turn.js"
import { makeTurnScheduler } from "./TurnScheduler.js"

/** A message for the agent, stored until its conversation's owner has answered it. */
export const Prompt = Rpc.make("Prompt", {
  payload: { robotCode: Schema.String, msgId: Schema.String, message: Schema.String, text: Schema.String, queuedAt: Schema.Number },
  primaryKey: (payload) => `${payload.robotCode}:${payload.msgId}`,
}).annotate(ClusterSchema.Persisted, true)

/** One DingTalk conversation (entity ID = conversation ID). */
export const ConversationEntity = Entity.make("Conversation", [Prompt])

/** Re-runs of one message before giving up on finding a clean slate (each cut-off attempt gets a new tail). */
const MAX_ATTEMPTS = 10

/** `ClusterTurns` over the conversation entities' clients. */
export const ClusterTurnsLive = Layer.effect(
  ClusterTurns,
  Effect.gen(function*() {
    const clientFor = yield* ConversationEntity.client
    // One send at a time per conversation, in arrival order (concurrent sends may be stored out of order).
    const sends = yield* makeTurnScheduler({ concurrency: 64, backlog: 1_000_000, onChange: () => Effect.void })
    const submit = (message: InboundMessage, text: string, queuedAt: number) => {
      const payload = { robotCode: message.robotCode, msgId: message.msgId, message: JSON.stringify(message), text, queuedAt }
      const send = clientFor(message.conversationId).Prompt(payload, { discard: true }).pipe(
        Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 240 }),
        Effect.catchCause((cause) => Effect.logError("Could not hand the message to its conversation", cause)),
        Effect.annotateLogs({ conversationId: message.conversationId, msgId: message.msgId })
      )
      return sends.submit(message.conversationId, send).pipe(Effect.asVoid)
    }
    return ClusterTurns.of({ submit })
  })
)

/**
 * The entity's behaviour on the runner that owns a conversation. The handler is built once per
 * conversation; the turn slots (`BRIDGE_CONCURRENCY`) are shared by all conversations of this runner.
 */
export const ConversationEntityLive = Layer.unwrap(Effect.gen(function*() {
  const settings = yield* BridgeConfig
  const sql = yield* SqlClient.SqlClient
  // A message whose answer started to leave is never answered again, whichever runner re-runs it.
  yield* sql`create table if not exists bridge_deliveries (key text primary key, at timestamptz not null default now())`.pipe(Effect.orDie)
  const metrics = yield* BridgeMetrics
  const slots = yield* Semaphore.make(settings.pipeline.concurrency)
  // This runner's share of the queue gauges (`dingtalk_get_performance`): waiting for a slot, and running.
  let waiting = 0
  let inFlight = 0
  const gauges = Effect.suspend(() => metrics.setQueue(waiting, inFlight))
  // Waiting for a slot, then running; each step undone on whatever exit (a move interrupts either).
  const queued = <A, E, R>(turn: Effect.Effect<A, E, R>) =>
    Effect.suspend(() => {
      let started = false
      waiting++
      const run = Effect.suspend(() => {
        started = true
        waiting--
        inFlight++
        return gauges
      }).pipe(Effect.andThen(turn))
      return gauges.pipe(
        Effect.andThen(Semaphore.withPermit(slots)(run)),
        Effect.onExit(() =>
          Effect.suspend(() => {
            if (started) inFlight--
            else waiting--
            return gauges
          })
        )
      )
    })
  const running: RunningTurns = new Map()
  const promptParts = yield* makePromptParts
  const interactions = yield* Interactions
  return ConversationEntity.toLayer(
    Effect.gen(function*() {
      const services = yield* Effect.context<Sessions | OpenCodeClient | Delivery | BridgeMetrics | BridgeConfig | OpenCodeEvents | Cards | Messages | SqlClient.SqlClient | ChatChoices>()
      return ConversationEntity.of({
        Prompt: ({ payload }) => {
          const message = JSON.parse(payload.message) as InboundMessage
          // As in the embedded pipeline: the sender may answer the turn's requests in a group, and OpenCode's
          // pending requests are read while it runs — after a move, that posts the old owner's requests again.
          return ownerTurn(payload, message, running, promptParts).pipe(
            interactions.duringTurn(message.conversationId, message.senderKey, message.senderNick),
            queued,
            Effect.provideContext(services)
          )
        },
      })
    }),
    { maxIdleTime: "10 minutes" }
  )
}))

const ownerTurn = (payload: typeof Prompt.payloadSchema.Type, message: InboundMessage, running: RunningTurns, promptParts: PromptParts) =>
  Effect.gen(function*() {
    const key = `${payload.robotCode}:${payload.msgId}`
    const sessions = yield* Sessions
    const sql = yield* SqlClient.SqlClient
    // `/session <n>` or `/new` may have reached another runner: the choice in the database decides.
    const chosen = (yield* ChatChoices.use((choices) => choices.get(message.conversationId))).sessionId
    if (chosen !== undefined) yield* sessions.use(message.conversationId, chosen)
    const delivered = yield* sql<{ readonly key: string }>`select key from bridge_deliveries where key = ${key}`.pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.orElseSucceed(() => false)
    )
    if (delivered) return yield* Effect.logInfo("The answer to this message went out before its runner stopped; not answering again")
    const sending = (part: number) =>
      part > 0 ? Effect.void : sql`insert into bridge_deliveries (key) values (${key}) on conflict do nothing`.pipe(
        Effect.asVoid,
        Effect.catch((error) => Effect.logWarning(`Could not record the delivery of ${key}: ${error.message}`))
      )
    const journalFor = (attempt: number): TurnJournal => {
      const tail = derivedTail(`${key}#${attempt}`)
      return {
        prompting: () => Clock.currentTimeMillis.pipe(Effect.map((now) => messageIdWithTail(now, tail))),
        deliver: (send) => send,
        sending,
        delivered: Effect.void,
      }
    }
    // The prompt is built here, on the owner: attachments fetched, quotes and voice transcripts labelled.
    const fresh = (attempt: number) =>
      runTurnWhenReady(message, Effect.flatten(promptParts.prepare(message, payload.text)), running, payload.queuedAt, journalFor(attempt))
    const session = yield* sessions.sessionFor(message.conversationId, conversationLabel(message)).pipe(Effect.option)
    if (Option.isNone(session)) return yield* fresh(0)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const tail = derivedTail(`${key}#${attempt}`)
      const match = (id: string) => id.endsWith(tail)
      const found = yield* turnOf(session.value, match).pipe(Effect.option)
      if (Option.isNone(found) || found.value._tag === "Absent") return yield* fresh(attempt)
      if (found.value._tag === "Interrupted") continue
      // Asked before (by a runner that died): wait for it or deliver what OpenCode has.
      yield* Effect.logInfo("This message was asked before by another runner; resuming it")
      const entry: InboxEntry = { key, seq: 0, message, text: payload.text, queuedAt: payload.queuedAt, turn: { sessionId: session.value, messageId: "" } }
      return yield* resumeTurn(entry, journalFor(attempt), fresh(attempt + 1), match)
    }
    return yield* fresh(MAX_ATTEMPTS)
  }).pipe(Effect.annotateLogs({ conversationId: message.conversationId, msgId: payload.msgId }))
