/** `dingtalk_list_conversations`: the conversations the robot can write to. */
import { Clock, Effect, Schema } from "effect"
import { Conversations } from "../dingtalk/Conversations.js"
import { asJson, defineTool } from "./Tool.js"

/** The tool. */
export const listConversations = defineTool({
  name: "dingtalk_list_conversations",
  annotations: { title: "List DingTalk conversations", readOnlyHint: true, openWorldHint: false },
  description:
    "List the DingTalk conversations the robot has received messages from, most recently active first: " +
    "conversation ID, type (1:1 or group), group title or sender, last activity and when the reply webhook expires. " +
    "Use it to find the conversationId for dingtalk_send_message.",
  input: Schema.Struct({
    limit: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))).annotate({ description: "At most this many conversations (default 50)." }),
  }),
  run: (input) =>
    Effect.all([Conversations.use((conversations) => conversations.list), Clock.currentTimeMillis]).pipe(
      Effect.map(([all, now]) => {
        const rows = all.slice(0, input.limit ?? 50).map((c) => ({
          conversationId: c.id,
          type: c.type === "group" ? "group" : "1:1",
          title: c.title ?? c.lastSenderNick,
          lastSender: c.lastSenderNick,
          lastActivity: new Date(c.lastActivity).toISOString(),
          messages: c.messageCount,
          webhookExpiresAt: new Date(c.webhookExpiresAt).toISOString(),
          webhookValid: c.webhookExpiresAt > now,
        }))
        return {
          text: rows.length === 0 ? "No conversations yet: send the robot a message in DingTalk first." : asJson(rows),
          structured: { conversations: rows },
        }
      })
    ),
})
