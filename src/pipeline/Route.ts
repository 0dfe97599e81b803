/**
 * Stage 3: what a (new, decoded) message from a sender the access policy let in asks for — a turn,
 * a chat command, or a polite refusal. Pure: the bridge acts on the answer.
 */
import { supportedTypes, type InboundMessage } from "../dingtalk/RobotMessage.js"
import { changesSettings, type InteractiveCommand, interactiveHelp, parseInteractive } from "./InteractiveCommands.js"

/** Chat commands. */
export const commands = ["new", "stop", "status", "help"] as const
/** A chat command. */
export type Command = typeof commands[number]

/** What to do with a message. */
export type Route =
  | { readonly _tag: "Turn"; readonly text: string }
  | { readonly _tag: "Command"; readonly command: Command }
  | { readonly _tag: "Interactive"; readonly command: InteractiveCommand }
  | { readonly _tag: "Pair"; readonly code: string }
  | { readonly _tag: "Unsupported"; readonly msgtype: string }
  | { readonly _tag: "Malformed"; readonly msgtype: string; readonly reason: string }
  | { readonly _tag: "TooLong"; readonly bytes: number }
  | { readonly _tag: "Empty" }

/** Commands only `DINGTALK_ADMINS` may run in groups (in a 1:1 chat the sender only affects their own chat). */
export const groupAdminCommands: ReadonlyArray<Command> = []

/** Whether a route needs an admin: `/pair` always, the commands above in groups. */
export const needsAdmin = (decided: Route, conversationType: InboundMessage["conversationType"]): boolean =>
  decided._tag === "Pair" || (decided._tag === "Command" && conversationType === "group" && groupAdminCommands.includes(decided.command)) ||
  (decided._tag === "Interactive" && conversationType === "group" && changesSettings(decided.command))

/** Decides the route of a message (the access policy has let its sender in). */
export const route = (message: InboundMessage, maxInputBytes: number): Route => {
  if (message.body._tag === "Unsupported") return { _tag: "Unsupported", msgtype: message.body.msgtype }
  if (message.body._tag === "Malformed") return { _tag: "Malformed", msgtype: message.body.msgtype, reason: message.body.reason }
  const text = message.body.text
  // A picture or file alone is a turn: the prompt names it.
  if (text === "" && (message.attachments?.length ?? 0) > 0) return { _tag: "Turn", text }
  if (text === "") return { _tag: "Empty" }
  const bytes = Buffer.byteLength(text)
  if (bytes > maxInputBytes) return { _tag: "TooLong", bytes }
  const pair = /^\/pair(?:\s+(.*?))?\s*$/is.exec(text)
  if (pair !== null) return { _tag: "Pair", code: pair[1] ?? "" }
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
  "- `/pair CODE` (admins) approve a sender's pairing code",
  ...interactiveHelp,
  "",
  `I read ${supportedTypes.join(", ")} messages.`,
].join("\n")
