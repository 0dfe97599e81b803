/**
 * The `opencode serve` HTTP API the bridge needs: sessions, a blocking turn, abort.
 * Keep-alive agents, Basic auth when configured, a long per-turn timeout that aborts the
 * turn in OpenCode, and errors that tell a person what to do.
 */
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { parseJson, requestJson, scopedAgents, type TextAnswer } from "../core/RequestJson.js"
import { BridgeConfig, openCodeAuthHeader } from "../core/BridgeConfig.js"

/** An OpenCode session as listed by `GET /session`. */
export const SessionInfo = Schema.Struct({
  id: Schema.String,
  title: Schema.optional(Schema.String),
  time: Schema.optional(Schema.Struct({ created: Schema.optional(Schema.Number), updated: Schema.optional(Schema.Number) })),
})
/** An OpenCode session. */
export type SessionInfo = typeof SessionInfo.Type

const Part = Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) })
const TurnAnswer = Schema.Struct({
  info: Schema.Struct({
    id: Schema.optional(Schema.String),
    error: Schema.optional(Schema.Struct({ name: Schema.optional(Schema.String), data: Schema.optional(Schema.Unknown) })),
  }),
  parts: Schema.Array(Part),
})

/** OpenCode could not be reached at all (not running, wrong URL, network). */
export class OpenCodeUnreachable extends Schema.TaggedError<OpenCodeUnreachable>()("OpenCodeUnreachable", {
  url: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return `OpenCode is not reachable at ${this.url} (${this.detail}). Start it with "opencode serve --port 4096" or set OPENCODE_SERVER_URL.`
  }
}

/** OpenCode answered with an error status or an answer we cannot read. */
export class OpenCodeRequestFailed extends Schema.TaggedError<OpenCodeRequestFailed>()("OpenCodeRequestFailed", {
  operation: Schema.String,
  status: Schema.Number,
  detail: Schema.String,
}) {
  override get message() {
    return this.status === 401
      ? `OpenCode refused the credentials (${this.operation}): set OPENCODE_SERVER_USERNAME / OPENCODE_SERVER_PASSWORD to the ones "opencode serve" uses.`
      : `OpenCode failed on ${this.operation} (HTTP ${this.status}): ${this.detail}`
  }
}

/** The session no longer exists in OpenCode (deleted by a user). */
export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()("SessionNotFound", {
  sessionId: Schema.String,
}) {}

/** The turn ran longer than `OPENCODE_TURN_TIMEOUT_MS`; it was aborted in OpenCode. */
export class TurnTimedOut extends Schema.TaggedError<TurnTimedOut>()("TurnTimedOut", {
  sessionId: Schema.String,
  timeoutMs: Schema.Number,
}) {
  override get message() {
    return `OpenCode did not finish within ${Math.round(this.timeoutMs / 1000)} s; the turn was stopped.`
  }
}

/** The model or a tool failed inside OpenCode. */
export class TurnFailed extends Schema.TaggedError<TurnFailed>()("TurnFailed", {
  sessionId: Schema.String,
  name: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return `OpenCode reported ${this.name}: ${this.detail}`
  }
}

/** Everything that can go wrong talking to OpenCode. */
export type OpenCodeError = OpenCodeUnreachable | OpenCodeRequestFailed | SessionNotFound | TurnTimedOut | TurnFailed

/** The outcome of one turn: the assistant's final text, or that it was aborted (`/stop`). */
export type TurnResult = { readonly _tag: "Answered"; readonly text: string } | { readonly _tag: "Aborted" }

/** One part of a prompt: text, or a file (a `data:` URL or a `file://` path inside OpenCode's project). */
export type PromptPart =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "file"; readonly mime: string; readonly url: string; readonly filename?: string }

/** Where a prompt sent with a chosen `messageID` stands in OpenCode (see `turnOf`). */
export type TurnLookup =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Running" }
  | { readonly _tag: "Interrupted" }
  | { readonly _tag: "Finished"; readonly result: TurnResult }
  | { readonly _tag: "Failed"; readonly name: string; readonly detail: string }

const HistoryEntry = Schema.Struct({
  info: Schema.Struct({
    id: Schema.String,
    role: Schema.String,
    parentID: Schema.optional(Schema.String),
    finish: Schema.optional(Schema.String),
    time: Schema.optional(Schema.Struct({ completed: Schema.optional(Schema.Number) })),
    error: Schema.optional(Schema.Struct({ name: Schema.optional(Schema.String), data: Schema.optional(Schema.Unknown) })),
  }),
  parts: Schema.Array(Part),
})

/** A prompt that is only text. */
export const textPrompt = (text: string): ReadonlyArray<PromptPart> => [{ type: "text", text }]

/** Requests that are not turns should answer fast. */
const CONTROL_TIMEOUT_MS = 15_000

/** The OpenCode server API. */
export class OpenCodeClient extends Context.Service<OpenCodeClient, {
  readonly url: string
  readonly listSessions: Effect.Effect<ReadonlyArray<SessionInfo>, OpenCodeUnreachable | OpenCodeRequestFailed>
  readonly createSession: (title: string) => Effect.Effect<SessionInfo, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** One blocking turn; `messageId` (it must start with `msg`) names the user message so `turnOf` can find it later. */
  readonly prompt: (sessionId: string, parts: ReadonlyArray<PromptPart>, options?: { readonly messageId?: string | undefined }) => Effect.Effect<TurnResult, OpenCodeError>
  /** What became of the prompt sent with `messageId`: its reply (`parentID` = that ID) in the session history. */
  readonly turnOf: (sessionId: string, messageId: string) => Effect.Effect<TurnLookup, OpenCodeUnreachable | OpenCodeRequestFailed | SessionNotFound>
  readonly abort: (sessionId: string) => Effect.Effect<void, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** True when `GET /session` answers. */
  readonly reachable: Effect.Effect<boolean>
}>()("dingtalk-mcp-server/OpenCodeClient") {
  /** The client, on its own keep-alive HTTP agents. */
  static readonly layer = Layer.effect(
    OpenCodeClient,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const url = settings.opencode.serverUrl
      const auth = Option.getOrUndefined(openCodeAuthHeader(settings))
      const headers: Record<string, string> = auth === undefined ? {} : { authorization: auth }
      const agents = yield* scopedAgents({ keepAlive: true })

      /** One call; `timeout` 0 leaves the bound to the caller. */
      const call = (operation: string, method: "GET" | "POST", path: string, body: unknown, timeoutMs: number) =>
        requestJson({ agents, method, url: new URL(`${url}${path}`), headers, body, timeoutMs }).pipe(
          Effect.mapError((error) => new OpenCodeUnreachable({ url, detail: `${error.detail} (${operation})` }))
        )

      const ensureOk = (operation: string, answer: TextAnswer) =>
        answer.status >= 200 && answer.status < 300
          ? Effect.succeed(answer)
          : Effect.fail(new OpenCodeRequestFailed({ operation, status: answer.status, detail: answer.text.slice(0, 300) }))

      const readJson = <S extends Schema.Top>(operation: string, schema: S) => (answer: TextAnswer) =>
        Schema.decodeUnknownEffect(schema)(parseJson(answer.text)).pipe(
          Effect.mapError((error) => new OpenCodeRequestFailed({ operation, status: answer.status, detail: `unexpected answer: ${error.message}` }))
        ) as Effect.Effect<S["Type"], OpenCodeRequestFailed, S["DecodingServices"]>

      const listSessions = call("GET /session", "GET", "/session", undefined, CONTROL_TIMEOUT_MS).pipe(
        Effect.flatMap((answer) => ensureOk("GET /session", answer)),
        Effect.flatMap(readJson("GET /session", Schema.Array(SessionInfo))),
        Effect.withSpan("OpenCodeClient.listSessions")
      )

      const createSession = Effect.fn("OpenCodeClient.createSession")(function*(title: string) {
        const answer = yield* call("POST /session", "POST", "/session", { title }, CONTROL_TIMEOUT_MS).pipe(Effect.flatMap((a) => ensureOk("POST /session", a)))
        return yield* readJson("POST /session", SessionInfo)(answer)
      })

      const abort = Effect.fn("OpenCodeClient.abort")(function*(sessionId: string) {
        yield* call("abort", "POST", `/session/${encodeURIComponent(sessionId)}/abort`, undefined, CONTROL_TIMEOUT_MS).pipe(Effect.flatMap((a) => ensureOk("abort", a)))
      })

      const turnTimeout = Duration.millis(settings.opencode.turnTimeoutMs)
      const prompt = Effect.fn("OpenCodeClient.prompt")(function*(sessionId: string, parts: ReadonlyArray<PromptPart>, options?: { readonly messageId?: string | undefined }) {
        const operation = "POST /session/:id/message"
        // The turn blocks until OpenCode is done: bounded by the turn timeout, which also aborts it in OpenCode.
        const answer = yield* call(operation, "POST", `/session/${encodeURIComponent(sessionId)}/message`, options?.messageId === undefined ? { parts } : { messageID: options.messageId, parts }, 0).pipe(
          Effect.timeoutOrElse({
            duration: turnTimeout,
            orElse: () => abort(sessionId).pipe(Effect.ignore, Effect.andThen(Effect.fail(new TurnTimedOut({ sessionId, timeoutMs: settings.opencode.turnTimeoutMs })))),
          })
        )
        if (answer.status === 404) return yield* new SessionNotFound({ sessionId })
        const turn = yield* ensureOk(operation, answer).pipe(Effect.flatMap(readJson(operation, TurnAnswer)))
        const error = turn.info.error
        if (error !== undefined) {
          if (error.name === "MessageAbortedError") return { _tag: "Aborted" } as TurnResult
          return yield* new TurnFailed({ sessionId, name: error.name ?? "error", detail: describe(error.data) })
        }
        return { _tag: "Answered", text: answerText(turn.parts) } as TurnResult
      })

      const turnOf = Effect.fn("OpenCodeClient.turnOf")(function*(sessionId: string, messageId: string) {
        const operation = "GET /session/:id/message"
        const answer = yield* call(operation, "GET", `/session/${encodeURIComponent(sessionId)}/message`, undefined, CONTROL_TIMEOUT_MS)
        if (answer.status === 404) return yield* new SessionNotFound({ sessionId })
        const history = yield* ensureOk(operation, answer).pipe(Effect.flatMap(readJson(operation, Schema.Array(HistoryEntry))))
        if (!history.some((entry) => entry.info.id === messageId)) return { _tag: "Absent" } as TurnLookup
        // A turn with tool calls has several assistant messages; the last one carries the answer.
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
        // Asked but not answered: still running, or cut off (OpenCode restarted) and never to finish.
        const status = yield* call("GET /session/status", "GET", "/session/status", undefined, CONTROL_TIMEOUT_MS)
        const busy = status.status === 200 && isBusy(parseJson(status.text), sessionId)
        return (busy ? { _tag: "Running" } : { _tag: "Interrupted" }) as TurnLookup
      })

      const reachable = listSessions.pipe(Effect.as(true), Effect.orElseSucceed(() => false))

      return OpenCodeClient.of({ url, listSessions, createSession, prompt, turnOf, abort, reachable })
    })
  )
}

const answerText = (parts: ReadonlyArray<typeof Part.Type>): string =>
  parts.flatMap((part) => (part.type === "text" && part.text !== undefined && part.text.trim() !== "" ? [part.text] : [])).join("\n\n")

/** `GET /session/status` maps busy sessions to `{ type: "busy" | "retry" }`; idle ones are absent or `idle`. */
const isBusy = (status: unknown, sessionId: string): boolean => {
  if (typeof status !== "object" || status === null) return false
  const entry = (status as Record<string, unknown>)[sessionId]
  return typeof entry === "object" && entry !== null && (entry as { type?: unknown }).type !== "idle"
}

const describe = (data: unknown): string => {
  if (typeof data === "object" && data !== null && "message" in data && typeof data.message === "string") return data.message
  return data === undefined ? "no details" : JSON.stringify(data).slice(0, 300)
}
