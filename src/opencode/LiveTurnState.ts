/**
 * What one turn has produced so far, folded from OpenCode's events (or rebuilt from the session's
 * messages after a gap in the stream): the assistant messages answering our prompt, their text parts
 * keyed by part ID, the current tool step, and whether the turn is over (idle, aborted, failed).
 */
import type { SessionMessage } from "./OpenCodeClient.js"
import type { EventError, EventPart, OpenCodeEvent } from "./OpenCodeEvents.js"

/** The agent's current step, as one compact line: `bash: npm test`, running / done / failed. */
export interface StepLine {
  readonly tool: string
  readonly detail: string
  readonly status: "running" | "done" | "failed"
}

/** `🔧 bash: npm test (running)` */
export const stepText = (step: StepLine): string =>
  `${step.status === "running" ? "⏳" : step.status === "done" ? "✅" : "❌"} ${step.tool}${step.detail === "" ? "" : `: ${step.detail}`}`

const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

/** What a tool runs, from its input: the command, the file, the pattern or URL, else its title. */
export const stepDetail = (input: unknown, title: string | undefined): string => {
  const fields = typeof input === "object" && input !== null ? input as Record<string, unknown> : {}
  for (const key of ["command", "filePath", "path", "pattern", "url", "query", "description"]) {
    const value = fields[key]
    if (typeof value === "string" && value.trim() !== "") return oneLine(value, 80)
  }
  return title === undefined ? "" : oneLine(title, 80)
}

const stepOf = (tool: string, state: { status: string; input?: unknown; title?: string | undefined } | undefined): StepLine => ({
  tool,
  detail: stepDetail(state?.input, state?.title),
  status: state?.status === "completed" ? "done" : state?.status === "error" ? "failed" : "running",
})

const ABORTED = "MessageAbortedError"

/** The fold of one turn. */
export class LiveTurnState {
  /** Our user message appeared: idles from here on are this turn's. */
  started = false
  /** The turn is over; read `aborted` / `error` for how. */
  finished = false
  aborted = false
  error: EventError | undefined = undefined
  /** Idle events seen after the turn started. */
  idles = 0
  step: StepLine | undefined = undefined
  /** The session is retrying the model (rate limit, outage): what OpenCode says. */
  retrying: string | undefined = undefined
  /** Time of the first text, for the first-update metric. */
  firstTextAt: number | undefined = undefined

  private readonly ours: Array<string> = []
  private readonly partsOf = new Map<string, Array<string>>()
  private readonly texts = new Map<string, string>()
  private readonly partTypes = new Map<string, string>()
  private textCache: string | undefined = undefined

  constructor(readonly sessionId: string, readonly userMessageId: string) {}

  /** All text of the turn's assistant messages, in order. */
  text(): string {
    if (this.textCache === undefined) {
      const pieces: Array<string> = []
      for (const message of this.ours) {
        for (const part of this.partsOf.get(message) ?? []) {
          const text = this.texts.get(part)?.trim()
          if (text !== undefined && text !== "") pieces.push(text)
        }
      }
      this.textCache = pieces.join("\n\n")
    }
    return this.textCache
  }

  /** Something a person can see: text or a step. */
  hasOutput(): boolean {
    return this.step !== undefined || this.text() !== ""
  }

  private adopt(messageId: string) {
    if (!this.ours.includes(messageId)) this.ours.push(messageId)
  }

  private setText(messageId: string, partId: string, text: string, now: number) {
    const parts = this.partsOf.get(messageId) ?? []
    if (!parts.includes(partId)) parts.push(partId)
    this.partsOf.set(messageId, parts)
    this.texts.set(partId, text)
    this.textCache = undefined
    if (this.firstTextAt === undefined && text.trim() !== "" && this.ours.includes(messageId)) this.firstTextAt = now
  }

  private fail(error: EventError | undefined) {
    if (error?.name === ABORTED) this.aborted = true
    else if (error !== undefined) this.error ??= error
  }

  private onPart(part: EventPart, now: number) {
    this.partTypes.set(part.id, part.type)
    if (part.type === "text") this.setText(part.messageID, part.id, part.text ?? "", now)
    else if (part.type === "tool" && part.tool !== undefined && this.ours.includes(part.messageID)) this.step = stepOf(part.tool, part.state)
  }

  /** Applies one event of our session; true when something visible may have changed. */
  apply(event: OpenCodeEvent, now: number): boolean {
    switch (event.type) {
      case "message.updated": {
        const info = event.properties.info
        if (info.role === "user" && info.id === this.userMessageId) this.started = true
        if (info.role !== "assistant" || info.parentID !== this.userMessageId) return false
        this.adopt(info.id)
        this.fail(info.error)
        this.textCache = undefined
        return true
      }
      case "message.part.updated":
        this.onPart(event.properties.part, now)
        return this.ours.includes(event.properties.part.messageID)
      case "message.part.delta": {
        const { partID, messageID, field, delta } = event.properties
        if (field !== "text" || this.partTypes.get(partID) !== "text") return false
        this.setText(messageID, partID, (this.texts.get(partID) ?? "") + delta, now)
        return this.ours.includes(messageID)
      }
      case "session.status":
        this.retrying = event.properties.status.type === "retry" ? (event.properties.status.message ?? "retrying") : undefined
        return false
      case "session.error":
        if (!this.started) return false
        this.fail(event.properties.error)
        return false
      case "session.idle":
        if (!this.started) return false
        this.idles++
        // After an abort OpenCode goes idle twice; the partial text arrives between the two.
        if (!this.aborted || this.idles >= 2) this.finished = true
        return false
      default:
        return false
    }
  }

  /** Rebuilds from the session's history (after the event stream had a gap); `busy` from `GET /session/status`. */
  resync(history: ReadonlyArray<SessionMessage>, busy: boolean, now: number) {
    for (const message of history) {
      const info = message.info
      if (info.role === "user" && info.id === this.userMessageId) this.started = true
      if (info.role !== "assistant" || info.parentID !== this.userMessageId) continue
      this.adopt(info.id)
      this.fail(info.error)
      for (const [index, part] of message.parts.entries()) {
        const partId = part.id ?? `${info.id}:${index}`
        this.partTypes.set(partId, part.type)
        if (part.type === "text") this.setText(info.id, partId, part.text ?? "", now)
        else if (part.type === "tool" && part.tool !== undefined) this.step = stepOf(part.tool, part.state)
      }
    }
    if (this.started && !busy) this.finished = true
  }
}
