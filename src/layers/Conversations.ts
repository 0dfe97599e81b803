/**
 * The conversations the robot has seen: where to reply (the freshest `sessionWebhook`) and who is
 * in them. `dingtalk_send_message` and `dingtalk_list_conversations` read this; the pipeline writes it.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { InboundMessage } from "../dingtalk/RobotMessage.js"

/** A conversation as last seen. */
export interface Conversation {
  readonly id: string
  readonly robotCode: string
  readonly type: "single" | "group"
  readonly title: string | undefined
  /** Staff (or user) ID of the last sender: the target of 1:1 OpenAPI sends. */
  readonly lastSenderKey: string
  readonly lastSenderStaffId: string | undefined
  readonly lastSenderNick: string
  readonly lastActivity: number
  readonly messageCount: number
  readonly webhook: string
  readonly webhookExpiresAt: number
}

/** How many conversations are kept; the least recently active ones go first. */
const MAX_CONVERSATIONS = 10_000

/** The registry of known conversations. */
export class Conversations extends Context.Service<Conversations, {
  readonly remember: (message: InboundMessage) => Effect.Effect<Conversation>
  readonly get: (conversationId: string) => Effect.Effect<Option.Option<Conversation>>
  /** Most recently active first. */
  readonly list: Effect.Effect<ReadonlyArray<Conversation>>
}>()("dingtalk-mcp-server/Conversations") {
  /** An in-memory registry. */
  static readonly layer = Layer.sync(Conversations, () => {
    // A Map keeps insertion order: re-inserting on activity makes it an LRU.
    const byId = new Map<string, Conversation>()
    return Conversations.of({
      remember: (message) =>
        Effect.sync(() => {
          const previous = byId.get(message.conversationId)
          const conversation: Conversation = {
            id: message.conversationId,
            robotCode: message.robotCode,
            type: message.conversationType,
            title: message.conversationTitle ?? previous?.title,
            lastSenderKey: message.senderKey,
            lastSenderStaffId: message.senderStaffId,
            lastSenderNick: message.senderNick,
            lastActivity: message.receivedAt,
            messageCount: (previous?.messageCount ?? 0) + 1,
            webhook: message.webhook,
            webhookExpiresAt: message.webhookExpiresAt,
          }
          byId.delete(message.conversationId)
          byId.set(message.conversationId, conversation)
          if (byId.size > MAX_CONVERSATIONS) byId.delete(byId.keys().next().value!)
          return conversation
        }),
      get: (conversationId) => Effect.sync(() => Option.fromUndefinedOr(byId.get(conversationId))),
      list: Effect.sync(() => [...byId.values()].reverse()),
    })
  })
}
