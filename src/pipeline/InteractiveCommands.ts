/**
 * The chat commands of interactive turns, parsed: answers to the agent's permission requests and
 * questions (`/allow`, `/always`, `/deny`, `/skip`), and the conversation's session, model and agent
 * (`/sessions`, `/session <n>`, `/model`, `/agent`). Pure; `Route` calls it, `Interactions` and
 * `ChatSettings` act on the result.
 */

/** An answer to a pending request; `number` picks one when several wait. */
export type AnswerCommand =
  | { readonly _tag: "Allow"; readonly reply: "once" | "always"; readonly number: number | undefined }
  | { readonly _tag: "Deny"; readonly number: number | undefined; readonly reason: string | undefined }
  | { readonly _tag: "Skip"; readonly number: number | undefined }

/** A command about the conversation's OpenCode session, model or agent; `undefined` argument = list. */
export type SettingCommand =
  | { readonly _tag: "Sessions" }
  | { readonly _tag: "Session"; readonly number: number }
  | { readonly _tag: "Model"; readonly model: string | undefined }
  | { readonly _tag: "Agent"; readonly agent: string | undefined }

/** Any interactive command. */
export type InteractiveCommand = AnswerCommand | SettingCommand

/** Whether a command answers a pending request (and so must act at once, even while a turn runs). */
export const isAnswer = (command: InteractiveCommand): command is AnswerCommand =>
  command._tag === "Allow" || command._tag === "Deny" || command._tag === "Skip"

/** Whether a command changes the conversation's model or agent: privileged in groups. */
export const changesSettings = (command: InteractiveCommand): boolean =>
  (command._tag === "Model" && command.model !== undefined) || (command._tag === "Agent" && command.agent !== undefined)

const numberOf = (raw: string | undefined): number | undefined => (raw === undefined || raw === "" ? undefined : Number(raw))

/** Parses an interactive command, or `undefined` when the text is none (it may still be another command or a prompt). */
export const parseInteractive = (text: string): InteractiveCommand | undefined => {
  const match = /^\/(\w+)(?:\s+([\s\S]*))?$/.exec(text.trim())
  if (match === null) return undefined
  const name = match[1]!.toLowerCase()
  const rest = (match[2] ?? "").trim()
  const numbered = /^(\d+)?\s*([\s\S]*)$/.exec(rest)!
  const number = numberOf(numbered[1])
  const tail = numbered[2]!.trim()
  switch (name) {
    case "allow":
    case "always":
      return tail === "" ? { _tag: "Allow", reply: name === "allow" ? "once" : "always", number } : undefined
    case "deny":
    case "reject":
      return { _tag: "Deny", number, reason: tail === "" ? undefined : tail }
    case "skip":
      return tail === "" ? { _tag: "Skip", number } : undefined
    case "sessions":
      return rest === "" ? { _tag: "Sessions" } : undefined
    case "session":
      return number !== undefined && tail === "" ? { _tag: "Session", number } : rest === "" ? { _tag: "Sessions" } : undefined
    case "model":
      return /\s/.test(rest) ? undefined : { _tag: "Model", model: rest === "" ? undefined : rest }
    case "agent":
      return /\s/.test(rest) ? undefined : { _tag: "Agent", agent: rest === "" ? undefined : rest }
    default:
      return undefined
  }
}

/** Lines for `/help`. */
export const interactiveHelp = [
  "- `/allow`, `/always`, `/deny [reason]` answer the agent's permission request (add its number when several wait)",
  "- a number (or several, `1,3`) or your own words answer the agent's question; `/skip` dismisses it",
  "- `/sessions` list this chat's OpenCode sessions; `/session <n>` switch to one",
  "- `/model` list models; `/model <provider/model>` use one in this chat",
  "- `/agent` list agents; `/agent <name>` use one in this chat",
]

/** What a question's answer text means: option labels picked by number, or the text itself. */
export type ParsedAnswer =
  | { readonly _tag: "Answer"; readonly labels: ReadonlyArray<string> }
  | { readonly _tag: "Invalid"; readonly why: string }

/** Reads a reply to one question: numbers pick options (several only for multiple choice), anything else is free text. */
export const parseQuestionAnswer = (
  text: string,
  question: { readonly options?: ReadonlyArray<{ readonly label: string }> | undefined; readonly multiple?: boolean | undefined; readonly custom?: boolean | undefined }
): ParsedAnswer => {
  const options = question.options ?? []
  const trimmed = text.trim()
  if (options.length > 0 && /^\d+(?:\s*[,，、\s]\s*\d+)*$/.test(trimmed)) {
    const picks = [...new Set(trimmed.split(/[\s,，、]+/).map(Number))]
    const wrong = picks.find((n) => n < 1 || n > options.length)
    if (wrong !== undefined) return { _tag: "Invalid", why: `There is no option ${wrong}; answer with a number from 1 to ${options.length}.` }
    if (picks.length > 1 && question.multiple !== true) return { _tag: "Invalid", why: "Pick one option only (one number)." }
    return { _tag: "Answer", labels: picks.map((n) => options[n - 1]!.label) }
  }
  if (question.custom === false) return { _tag: "Invalid", why: `Answer with a number from 1 to ${options.length}.` }
  if (trimmed === "") return { _tag: "Invalid", why: "Type your answer." }
  return { _tag: "Answer", labels: [trimmed] }
}
