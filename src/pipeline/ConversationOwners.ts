/**
 * Cluster mode: which runner a conversation belongs to. Requests of the agent are posted only by the
 * runner that owns their conversation (every runner sees OpenCode's events), and answers that reach
 * another runner (typed or clicked) are sent on to the owner, which holds the request. When a runner
 * dies, its conversations move and the new owner posts their pending requests again. Only the service
 * is declared here; the implementation (`ConversationEntity.ts`) is loaded with the cluster layer.
 */
import { Context, type Effect } from "effect"
import type { AnswerCommand } from "./InteractiveCommands.js"
import type { Answerer, CardAction, CardOutcome, WithdrawReason } from "./Interactions.js"

export class ConversationOwners extends Context.Service<ConversationOwners, {
  /** Whether this runner owns the conversation now. */
  readonly isLocal: (conversationId: string) => boolean
  /** The owner's `Interactions.answer`. */
  readonly answer: (who: Answerer, command: AnswerCommand) => Effect.Effect<void>
  /** The owner's `Interactions.answerText`. */
  readonly answerText: (who: Answerer, text: string) => Effect.Effect<boolean>
  /** The owner's `Interactions.withdraw`. */
  readonly withdraw: (conversationId: string, reason: WithdrawReason) => Effect.Effect<void>
  /** The owner's `Interactions.cardAction`. */
  readonly cardAction: (action: CardAction & { readonly conversationId: string }) => Effect.Effect<CardOutcome>
}>()("dingtalk-mcp-server/ConversationOwners") {}
