/**
 * Stage 3: what a (new, decoded) message asks for — a turn, a chat command, or a polite refusal —
 * given the allowlist. Pure: the bridge acts on the answer.
 */
import { supportedTypes, type InboundMessage } from "../dingtalk/RobotMessage.js"
import { type InteractiveCommand, interactiveHelp, parseInteractive } from "./InteractiveCommands.js"

/** Chat commands. */
export const commands = ["new", "stop", "status", "help"] as const
/** A chat command. */
export type Command = typeof commands[number]

/** What to do with a message. */
export type Route =
  | { readonly _tag: "Turn"; readonly text: string }
  | { readonly _tag: "Command"; readonly command: Command }
  | { readonly _tag: "Interactive"; readonly command: InteractiveCommand }
  | { readonly _tag: "Denied"; readonly why: string }
  | { readonly _tag: "Unsupported"; readonly msgtype: string }
  | { readonly _tag: "TooLong"; readonly bytes: number }
  | { readonly _tag: "Empty" }

/** Who may talk to the agent. An empty list means "anyone". */
export interface Allowlist {
  readonly users: ReadonlyArray<string>
  readonly conversations: ReadonlyArray<string>
}

/** Decides the route of a message. */
export const route = (message: InboundMessage, allowlist: Allowlist, maxInputBytes: number): Route => {
  if (allowlist.users.length > 0 && !allowlist.users.includes(message.senderKey) && !allowlist.users.includes(message.senderId)) {
    return { _tag: "Denied", why: `sender ${message.senderKey} is not in DINGTALK_ALLOWED_USERS` }
  }
  if (allowlist.conversations.length > 0 && !allowlist.conversations.includes(message.conversationId)) {
    return { _tag: "Denied", why: `conversation ${message.conversationId} is not in DINGTALK_ALLOWED_CONVERSATIONS` }
  }
  if (message.body._tag === "Unsupported") return { _tag: "Unsupported", msgtype: message.body.msgtype }
  const text = message.body.text
  if (text === "") return { _tag: "Empty" }
  const bytes = Buffer.byteLength(text)
  if (bytes > maxInputBytes) return { _tag: "TooLong", bytes }
  const command = /^\/(\w+)\s*$/.exec(text)?.[1]?.toLowerCase()
  if (command !== undefined && (commands as ReadonlyArray<string>).includes(command)) return { _tag: "Command", command: command as Command }
  const interactive = parseInteractive(text)
  if (interactive !== undefined) return { _tag: "Interactive", command: interactive }
  return { _tag: "Turn", text }
}

/** The help text of `/help` (and of unknown situations). */
export const helpText = [
  "I forward your messages to an OpenCode coding agent and reply with its answer.",
  "",
  "- `/new` start a fresh OpenCode session for this chat",
  "- `/stop` stop the running answer",
  "- `/status` show the session, the queue and the connection",
  "- `/help` this text",
  ...interactiveHelp,
  "",
  `I read ${supportedTypes.join(", ")} messages.`,
].join("\n")
