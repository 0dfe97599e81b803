/** `dingtalk_approve_pairing`: lets a DingTalk user the robot gave a pairing code talk to the agent. */
import { Effect, Schema } from "effect"
import { AccessPolicy } from "../dingtalk/AccessPolicy.js"
import { defineTool, ToolError } from "./Tool.js"

/** The tool. */
export const approvePairing = defineTool({
  name: "dingtalk_approve_pairing",
  annotations: { title: "Approve a DingTalk pairing code", readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  description:
    "Approve a DingTalk user who asked for access: with DINGTALK_ACCESS=pairing, the robot answers an unknown sender with a " +
    "one-time code (6 letters/digits, valid 1 hour) instead of forwarding their message. Use this only when the operator " +
    "gives you such a code and asks you to approve it; dingtalk_get_stats lists the codes waiting (access.pending). " +
    "Returns who was approved; their next message is answered.",
  input: Schema.Struct({
    code: Schema.NonEmptyString.annotate({ description: "The pairing code the robot sent the user, e.g. \"K7QX2M\" (case and dashes do not matter)." }),
  }),
  run: (input) =>
    AccessPolicy.use((access) => access.approve(input.code, "mcp")).pipe(
      Effect.map((approved) => ({
        text: `Approved ${approved.senderNick || approved.senderKey} (${approved.senderKey}); their next message will be answered.`,
        structured: { senderKey: approved.senderKey, senderNick: approved.senderNick, approvedAt: new Date(approved.approvedAt).toISOString() },
      })),
      Effect.mapError((error) => new ToolError({ message: error.message }))
    ),
})
