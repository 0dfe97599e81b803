/**
 * Chat choices in SQL (PostgreSQL in cluster mode): `/model`, `/agent` or `/session` may reach any
 * runner, and the runner that owns the conversation runs its turns with them. A read per turn is one
 * indexed lookup; choices change rarely.
 */
import { Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { type ChatChoice, ChatChoices, ChoiceSchema, mergeChoice } from "./ChatChoices.js"

const decodeChoice = Schema.decodeUnknownOption(Schema.fromJsonString(ChoiceSchema))

/** `ChatChoices` over the `bridge_choices` table (created when missing). */
export const layerChatChoicesSql: Layer.Layer<ChatChoices, never, SqlClient.SqlClient> = Layer.effect(
  ChatChoices,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`create table if not exists bridge_choices (conversation_id text primary key, choice text not null)`.pipe(Effect.orDie)
    const warn = (what: string) => (error: { readonly message: string }) => Effect.logWarning(`Could not ${what} chat choices in the database: ${error.message}`)
    const parse = (text: string): ChatChoice => {
      const decoded = decodeChoice(text)
      return decoded._tag === "Some" ? decoded.value : {}
    }
    const get = (conversationId: string) =>
      sql<{ choice: string }>`select choice from bridge_choices where conversation_id = ${conversationId}`.pipe(
        Effect.map((rows) => (rows[0] === undefined ? {} : parse(rows[0].choice))),
        Effect.catch((error) => warn("read")(error).pipe(Effect.as<ChatChoice>({})))
      )
    return ChatChoices.of({
      get,
      set: (conversationId, patch) =>
        sql.withTransaction(Effect.gen(function*() {
          const rows = yield* sql<{ choice: string }>`select choice from bridge_choices where conversation_id = ${conversationId} for update`
          const merged = mergeChoice(rows[0] === undefined ? undefined : parse(rows[0].choice), patch)
          if (merged === undefined) yield* sql`delete from bridge_choices where conversation_id = ${conversationId}`
          else {
            yield* sql`insert into bridge_choices (conversation_id, choice) values (${conversationId}, ${JSON.stringify(merged)})
              on conflict (conversation_id) do update set choice = excluded.choice`
          }
        })).pipe(Effect.catch(warn("save"))),
      all: sql<{ conversation_id: string; choice: string }>`select conversation_id, choice from bridge_choices`.pipe(
        Effect.map((rows) => new Map(rows.map((row) => [row.conversation_id, parse(row.choice)] as const))),
        Effect.catch((error) => warn("read")(error).pipe(Effect.as(new Map<string, ChatChoice>())))
      ),
    })
  })
)
