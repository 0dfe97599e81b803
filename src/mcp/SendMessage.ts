/** `dingtalk_send_message`: lets the agent write to a DingTalk conversation the robot has seen. */
import { Effect, Schema } from "effect"
import { Delivery } from "../dingtalk/Delivery.js"
import { defineTool, ToolError } from "./Tool.js"

/** The tool. */
export const sendMessage = defineTool({
  name: "dingtalk_send_message",
  annotations: { title: "Send a DingTalk message", readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  description:
    "Send a message to a DingTalk conversation (1:1 chat or group) that the robot has received a message from. " +
    "Use dingtalk_list_conversations first to find the conversation ID. Long messages are split into numbered parts. " +
    "Returns how the message was delivered (webhook or robot OpenAPI) and in how many parts.",
  input: Schema.Struct({
    conversationId: Schema.NonEmptyString.annotate({ description: "The conversation ID (starts with \"cid\"), as listed by dingtalk_list_conversations." }),
    message: Schema.NonEmptyString.annotate({ description: "The text to send. Markdown (headings, bold, lists, links, code) unless format is \"text\"." }),
    format: Schema.optionalKey(Schema.Literals(["markdown", "text"])).annotate({ description: "\"markdown\" (default) or \"text\" for plain text." }),
    title: Schema.optionalKey(Schema.String).annotate({ description: "Notification title for markdown messages; default: the first line of the message." }),
  }),
  run: (input) =>
    Delivery.use((delivery) => delivery.send({ conversationId: input.conversationId, text: input.message, format: input.format, title: input.title })).pipe(
      Effect.map((receipt) => ({
        text: `Sent to ${receipt.conversationId} in ${receipt.parts} part(s) via ${receipt.routes.join(" then ")}.`,
        structured: { conversationId: receipt.conversationId, parts: receipt.parts, routes: [...receipt.routes] },
      })),
      Effect.mapError((error) => new ToolError({ message: error.message }))
    ),
})
