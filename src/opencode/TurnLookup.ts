/**
 * What became of a prompt sent with a `messageID` we chose: its reply is the assistant message whose
 * `parentID` is that ID (a turn with tool calls has several; the last carries the answer). How the
 * durable inbox knows, after a crash, whether OpenCode finished a turn.
 */
import { Effect } from "effect"
import { OpenCodeClient, type SessionMessage, type TurnResult } from "./OpenCodeClient.js"

/** Where the prompt stands. */
export type TurnLookup =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Running" }
  /** Asked, never answered, and the session is idle: cut off (OpenCode restarted) and never to finish. */
  | { readonly _tag: "Interrupted" }
  | { readonly _tag: "Finished"; readonly result: TurnResult }
  | { readonly _tag: "Failed"; readonly name: string; readonly detail: string }

/**
 * Looks the prompt up in the session's history (and the session's status when it is unanswered): by its
 * exact ID, or by a test on IDs (e.g. the tail a cluster runner derives from the DingTalk message).
 */
export const turnOf = Effect.fn("TurnLookup.turnOf")(function*(sessionId: string, message: string | ((id: string) => boolean)) {
  const opencode = yield* OpenCodeClient
  const history = yield* opencode.messages(sessionId)
  const matches = typeof message === "string" ? (id: string) => id === message : message
  const asked = history.filter((entry) => entry.info.role === "user" && matches(entry.info.id)).at(-1)
  if (asked === undefined) return { _tag: "Absent" } as TurnLookup
  const messageId = asked.info.id
  const last = history.filter((entry) => entry.info.role === "assistant" && entry.info.parentID === messageId).at(-1)
  const error = last?.info.error
  if (error !== undefined) {
    return (error.name === "MessageAbortedError"
      ? { _tag: "Finished", result: { _tag: "Aborted" } }
      : { _tag: "Failed", name: error.name ?? "error", detail: describe(error.data) }) as TurnLookup
  }
  if (last !== undefined && last.info.time?.completed !== undefined && last.info.finish !== "tool-calls") {
    return { _tag: "Finished", result: { _tag: "Answered", text: answerText(last.parts) } } as TurnLookup
  }
  const status = yield* opencode.sessionStatus.pipe(Effect.orElseSucceed(() => ({} as Record<string, { readonly type: string }>)))
  const busy = status[sessionId] !== undefined && status[sessionId].type !== "idle"
  return (busy ? { _tag: "Running" } : { _tag: "Interrupted" }) as TurnLookup
})

const answerText = (parts: SessionMessage["parts"]): string =>
  parts.flatMap((part) => (part.type === "text" && part.text !== undefined && part.text.trim() !== "" ? [part.text] : [])).join("\n\n")

const describe = (data: unknown): string => {
  if (typeof data === "object" && data !== null && "message" in data && typeof data.message === "string") return data.message
  return data === undefined ? "no details" : JSON.stringify(data).slice(0, 300)
}
