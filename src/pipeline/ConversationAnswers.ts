/**
 * Cluster mode: the agent's requests follow the conversation. Answers, card clicks and withdrawals that
 * reach a runner which does not own the conversation travel to the one that does, as messages to a
 * second entity with the conversation's ID (so on the same shard, the same runner as its turns).
 */
import { type Cause, Effect, Layer, Schema } from "effect"
import { Entity, EntityId, Sharding } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { ConversationEntity } from "./ConversationEntity.js"
import { ConversationOwners } from "./ConversationOwners.js"
import { type Answerer, type CardAction, Interactions } from "./Interactions.js"
import type { AnswerCommand } from "./InteractiveCommands.js"

/**
 * Answers to the agent's requests, for the runner that owns the conversation. Same entity ID as the
 * conversation, so the same shard and the same runner; not persisted (an answer is for the request on
 * screen now: if its runner died, the new owner posts the request again) and handled concurrently,
 * never queued behind the turn that waits for it.
 */
export const AnswersEntity = Entity.make("ConversationAnswers", [
  Rpc.make("Answer", { payload: { who: Schema.String, command: Schema.String } }),
  Rpc.make("AnswerText", { payload: { who: Schema.String, text: Schema.String }, success: Schema.Boolean }),
  Rpc.make("CardClick", { payload: { action: Schema.String }, success: Schema.String }),
  Rpc.make("Withdraw", { payload: { reason: Schema.Literals(["stopped", "turnEnded"]) } }),
])

/** `ConversationOwners` over the cluster's shard assignment. */
export const ConversationOwnersLive = Layer.effect(
  ConversationOwners,
  Effect.gen(function*() {
    const sharding = yield* Sharding.Sharding
    const clientFor = yield* AnswersEntity.client
    const isLocal = (conversationId: string) => {
      const entityId = EntityId.make(conversationId)
      return sharding.hasShardId(sharding.getShardId(entityId, ConversationEntity.getShardGroup(entityId)))
    }
    // The owner may be moving (a runner died): the answer is lost, and the user answers the request again
    // when the new owner posts it.
    const lost = <A>(fallback: A) => (cause: Cause.Cause<unknown>) =>
      Effect.logWarning("Could not hand an answer to the conversation's runner", cause).pipe(Effect.as(fallback))
    return ConversationOwners.of({
      isLocal,
      answer: (who, command) =>
        clientFor(who.conversationId).Answer({ who: JSON.stringify(who), command: JSON.stringify(command) }).pipe(Effect.catchCause(lost(undefined))),
      // Asked for every plain message a non-owner receives: a failure (the owner moving) is not worth a warning each.
      answerText: (who, text) =>
        clientFor(who.conversationId).AnswerText({ who: JSON.stringify(who), text }).pipe(
          Effect.catchCause((cause) => Effect.logDebug("Could not ask the conversation's runner about a pending question", cause).pipe(Effect.as(false)))
        ),
      withdraw: (conversationId, reason) => clientFor(conversationId).Withdraw({ reason }).pipe(Effect.catchCause(lost(undefined))),
      cardAction: (action) =>
        clientFor(action.conversationId).CardClick({ action: JSON.stringify(action) }).pipe(
          Effect.map((status) => ({ status })),
          Effect.catchCause(lost({ status: "" }))
        ),
    })
  })
)

/** The owner's side: the local `Interactions`, without handing off again. */
export const AnswersEntityLive = AnswersEntity.toLayer(
  Effect.gen(function*() {
    const interactions = yield* Interactions
    return AnswersEntity.of({
      Answer: ({ payload }) => interactions.here.answer(JSON.parse(payload.who) as Answerer, JSON.parse(payload.command) as AnswerCommand),
      AnswerText: ({ payload }) => interactions.here.answerText(JSON.parse(payload.who) as Answerer, payload.text),
      Withdraw: (envelope) => interactions.here.withdraw(envelope.address.entityId, envelope.payload.reason),
      CardClick: ({ payload }) => interactions.here.cardAction(JSON.parse(payload.action) as CardAction).pipe(Effect.map((outcome) => outcome.status)),
    })
  }),
  { concurrency: "unbounded", maxIdleTime: "10 minutes" }
)
