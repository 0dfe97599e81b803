/**
 * The conversation registry in SQL (PostgreSQL in cluster mode): every instance writes the conversations
 * whose pushes it receives and reads all of them, so MCP tools on any instance see every conversation,
 * and the runner that owns a conversation finds its reply webhook wherever the push arrived.
 */
import { Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { type Conversation, Conversations, MAX_CONVERSATIONS } from "./Conversations.js"

interface Row {
  readonly id: string
  readonly data: string
  readonly title: string | null
  readonly message_count: number
}

const toConversation = (row: Row): Conversation => {
  const data = JSON.parse(row.data) as Omit<Conversation, "title" | "messageCount">
  return { ...data, lastSenderStaffId: data.lastSenderStaffId, title: row.title ?? undefined, messageCount: row.message_count }
}

/** `Conversations` over the `bridge_conversations` table (created when missing). */
export const layerConversationsSql: Layer.Layer<Conversations, never, SqlClient.SqlClient> = Layer.effect(
  Conversations,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`create table if not exists bridge_conversations (
      id text primary key,
      data text not null,
      title text,
      message_count integer not null,
      last_activity double precision not null
    )`.pipe(Effect.orDie)

    const warn = (what: string) => (error: { readonly message: string }) =>
      Effect.logWarning(`Could not ${what} the conversation registry: ${error.message}`)

    return Conversations.of({
      remember: (message) => {
        const data = JSON.stringify({
          id: message.conversationId, robotCode: message.robotCode, type: message.conversationType,
          lastSenderKey: message.senderKey, lastSenderStaffId: message.senderStaffId, lastSenderNick: message.senderNick,
          lastActivity: message.receivedAt, webhook: message.webhook, webhookExpiresAt: message.webhookExpiresAt,
        })
        const title = message.conversationTitle ?? null
        const fallback: Conversation = {
          id: message.conversationId, robotCode: message.robotCode, type: message.conversationType, title: message.conversationTitle,
          lastSenderKey: message.senderKey, lastSenderStaffId: message.senderStaffId, lastSenderNick: message.senderNick,
          lastActivity: message.receivedAt, messageCount: 1, webhook: message.webhook, webhookExpiresAt: message.webhookExpiresAt,
        }
        return sql<Row>`insert into bridge_conversations (id, data, title, message_count, last_activity)
          values (${message.conversationId}, ${data}, ${title}, 1, ${message.receivedAt})
          on conflict (id) do update set data = excluded.data,
            title = coalesce(excluded.title, bridge_conversations.title),
            message_count = bridge_conversations.message_count + 1,
            last_activity = greatest(excluded.last_activity, bridge_conversations.last_activity)
          returning id, data, title, message_count`.pipe(
          Effect.map((rows) => (rows[0] === undefined ? fallback : toConversation(rows[0]))),
          Effect.catch((error) => warn("update")(error).pipe(Effect.as(fallback)))
        )
      },
      get: (conversationId) =>
        sql<Row>`select id, data, title, message_count from bridge_conversations where id = ${conversationId}`.pipe(
          Effect.map((rows) => Option.map(Option.fromUndefinedOr(rows[0]), toConversation)),
          Effect.catch((error) => warn("read")(error).pipe(Effect.as(Option.none())))
        ),
      list: sql<Row>`select id, data, title, message_count from bridge_conversations order by last_activity desc limit ${MAX_CONVERSATIONS}`.pipe(
        Effect.map((rows) => rows.map(toConversation)),
        Effect.catch((error) => warn("read")(error).pipe(Effect.as([])))
      ),
    })
  })
)
