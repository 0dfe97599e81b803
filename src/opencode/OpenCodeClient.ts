/**
 * The `opencode serve` HTTP API the bridge needs: sessions, a blocking turn, abort.
 * Effect's `HttpClient` on keep-alive agents, Basic auth when configured, a long per-turn timeout that aborts the
 * turn in OpenCode, and errors that tell a person what to do.
 */
import { Context, Duration, Effect, flow, identity, Layer, Option, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { describeHttpError, keepAliveHttpClient } from "../core/KeepAliveHttpClient.js"
import { BridgeConfig, openCodeAuthHeader } from "../core/BridgeConfig.js"

/** An OpenCode session as listed by `GET /session`. */
export const SessionInfo = Schema.Struct({
  id: Schema.String,
  title: Schema.optional(Schema.String),
  time: Schema.optional(Schema.Struct({ created: Schema.optional(Schema.Number), updated: Schema.optional(Schema.Number) })),
})
/** An OpenCode session. */
export type SessionInfo = typeof SessionInfo.Type

/** `GET /global/health`. */
export const ServerHealth = Schema.Struct({ healthy: Schema.Boolean, version: Schema.optional(Schema.String) })
/** The server's health and version. */
export type ServerHealth = typeof ServerHealth.Type

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

/** One model in `GET /config/providers`: what it accepts as input. */
export const ProviderModel = Schema.Struct({
  id: Schema.String,
  providerID: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  capabilities: Schema.optional(Schema.Struct({
    attachment: Schema.optional(Schema.Boolean),
    toolcall: Schema.optional(Schema.Boolean),
    input: Schema.optional(Schema.Struct({
      text: Schema.optional(Schema.Boolean),
      image: Schema.optional(Schema.Boolean),
      pdf: Schema.optional(Schema.Boolean),
      audio: Schema.optional(Schema.Boolean),
      video: Schema.optional(Schema.Boolean),
    })),
  })),
})
/** A model as `GET /config/providers` lists it (fields the bridge uses). */
export type ProviderModel = typeof ProviderModel.Type

/** `GET /config/providers`: the configured providers and their models (never `GET /provider`: megabytes). */
export const ConfigProviders = Schema.Struct({
  providers: Schema.Array(Schema.Struct({ id: Schema.String, name: Schema.optional(Schema.String), models: Schema.Record(Schema.String, ProviderModel) })),
})
/** The providers answer. */
export type ConfigProviders = typeof ConfigProviders.Type

/** `GET /config`, the fields the bridge reads: the configured default model as "provider/model". */
export const OpenCodeConfig = Schema.Struct({ model: Schema.optional(Schema.String) })
/** The config answer. */
export type OpenCodeConfig = typeof OpenCodeConfig.Type

/** `GET /path`: `directory` is the working directory of `opencode serve` (its project). */
export const OpenCodePaths = Schema.Struct({ directory: Schema.String, worktree: Schema.optional(Schema.String) })
/** The paths answer. */
export type OpenCodePaths = typeof OpenCodePaths.Type

/** A prompt that is only text. */
export const textPrompt = (text: string): ReadonlyArray<PromptPart> => [{ type: "text", text }]

/** A permission request (`permission.asked`, `GET /permission`): what the agent wants to run or touch. */
export const PermissionRequest = Schema.Struct({
  id: Schema.String,
  sessionID: Schema.String,
  permission: Schema.String,
  patterns: Schema.optional(Schema.Array(Schema.String)),
  metadata: Schema.optional(Schema.Unknown),
  always: Schema.optional(Schema.Array(Schema.String)),
})
/** A pending permission request. */
export type PermissionRequest = typeof PermissionRequest.Type

/** One question of a `question` tool call, with its options. */
export const QuestionItem = Schema.Struct({
  question: Schema.String,
  header: Schema.optional(Schema.String),
  options: Schema.optional(Schema.Array(Schema.Struct({ label: Schema.String, description: Schema.optional(Schema.String) }))),
  multiple: Schema.optional(Schema.Boolean),
  custom: Schema.optional(Schema.Boolean),
})
/** A question asked by the agent. */
export type QuestionItem = typeof QuestionItem.Type

/** A question request (`question.asked`, `GET /question`). */
export const QuestionRequest = Schema.Struct({ id: Schema.String, sessionID: Schema.String, questions: Schema.Array(QuestionItem) })
/** A pending question request. */
export type QuestionRequest = typeof QuestionRequest.Type

/** An agent as listed by `GET /agent`. */
export const AgentInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  mode: Schema.optional(Schema.String),
  hidden: Schema.optional(Schema.Boolean),
})
/** An OpenCode agent. */
export type AgentInfo = typeof AgentInfo.Type

/** How a permission request is answered. */
export type PermissionReply = "once" | "always" | "reject"

/** OpenCode no longer knows the permission request: it was answered already (or OpenCode restarted). */
export class PermissionNotFound extends Schema.TaggedError<PermissionNotFound>()("PermissionNotFound", {
  requestId: Schema.String,
}) {
  override get message() {
    return `The permission request ${this.requestId} was already answered (or OpenCode restarted since).`
  }
}

/** OpenCode no longer knows the question: it was answered already (or OpenCode restarted). */
export class QuestionNotFound extends Schema.TaggedError<QuestionNotFound>()("QuestionNotFound", {
  requestId: Schema.String,
}) {
  override get message() {
    return `The question ${this.requestId} was already answered (or OpenCode restarted since).`
  }
}

/** An answer: status and the body as text. */
interface TextAnswer {
  readonly status: number
  readonly text: string
}

/** Per-prompt choices: model, agent, and our own message ID. */
export interface PromptOptions {
  readonly model?: { readonly providerID: string; readonly modelID: string }
  readonly agent?: string
  readonly messageID?: string
}

/** A session's status in `GET /session/status`: `busy`, `retry` (with attempt and message) or `idle`. */
export const SessionStatusInfo = Schema.Struct({
  type: Schema.String,
  attempt: Schema.optional(Schema.Number),
  message: Schema.optional(Schema.String),
  next: Schema.optional(Schema.Number),
})
/** A session's status. */
export type SessionStatusInfo = typeof SessionStatusInfo.Type

/** One message of a session's history, with the part fields a turn reads. */
export const SessionMessage = Schema.Struct({
  info: Schema.Struct({
    id: Schema.String,
    role: Schema.String,
    parentID: Schema.optional(Schema.String),
    finish: Schema.optional(Schema.String),
    error: Schema.optional(Schema.Struct({ name: Schema.optional(Schema.String), data: Schema.optional(Schema.Unknown) })),
    time: Schema.optional(Schema.Struct({ created: Schema.optional(Schema.Number), completed: Schema.optional(Schema.Number) })),
  }),
  parts: Schema.Array(Schema.Struct({
    id: Schema.optional(Schema.String),
    type: Schema.String,
    text: Schema.optional(Schema.String),
    tool: Schema.optional(Schema.String),
    state: Schema.optional(Schema.Struct({ status: Schema.String, input: Schema.optional(Schema.Unknown), title: Schema.optional(Schema.String) })),
  })),
})
/** A message with its parts. */
export type SessionMessage = typeof SessionMessage.Type

/** Requests that are not turns should answer fast. */
const CONTROL_TIMEOUT_MS = 15_000

/** The OpenCode server API. */
export class OpenCodeClient extends Context.Service<OpenCodeClient, {
  /** The server URL without credentials (for logs and pages). */
  readonly url: string
  readonly listSessions: Effect.Effect<ReadonlyArray<SessionInfo>, OpenCodeUnreachable | OpenCodeRequestFailed>
  readonly createSession: (title: string) => Effect.Effect<SessionInfo, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** One blocking turn; `options.messageID` (it must start with `msg`) names the user message so it can be found later. */
  readonly prompt: (sessionId: string, parts: ReadonlyArray<PromptPart>, options?: PromptOptions) => Effect.Effect<TurnResult, OpenCodeError>
  readonly abort: (sessionId: string) => Effect.Effect<void, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** True when `GET /session` answers. */
  readonly reachable: Effect.Effect<boolean>
  /** Answers a permission request (`POST /permission/:id/reply`); `message` goes to the agent with a rejection. */
  readonly replyPermission: (requestId: string, reply: PermissionReply, message?: string) => Effect.Effect<void, OpenCodeUnreachable | OpenCodeRequestFailed | PermissionNotFound>
  /** Answers a question request: one array of labels (or free text) per question. */
  readonly replyQuestion: (requestId: string, answers: ReadonlyArray<ReadonlyArray<string>>) => Effect.Effect<void, OpenCodeUnreachable | OpenCodeRequestFailed | QuestionNotFound>
  /** Dismisses a question request (the tool call fails, the turn ends). */
  readonly rejectQuestion: (requestId: string) => Effect.Effect<void, OpenCodeUnreachable | OpenCodeRequestFailed | QuestionNotFound>
  /** Pending permission requests of every session. */
  readonly listPermissions: Effect.Effect<ReadonlyArray<PermissionRequest>, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** Pending question requests of every session. */
  readonly listQuestions: Effect.Effect<ReadonlyArray<QuestionRequest>, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** The agents OpenCode offers (`GET /agent`), hidden and subagents included. */
  readonly agents: Effect.Effect<ReadonlyArray<AgentInfo>, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** `GET /config/providers`: providers and models with their input capabilities. */
  readonly configProviders: Effect.Effect<ConfigProviders, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** `GET /config`: the configured default model. */
  readonly config: Effect.Effect<OpenCodeConfig, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** `GET /path`: OpenCode's working directory. */
  readonly paths: Effect.Effect<OpenCodePaths, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** `GET /global/health`: the server's version. */
  readonly health: Effect.Effect<ServerHealth, OpenCodeUnreachable | OpenCodeRequestFailed>
  readonly deleteSession: (sessionId: string) => Effect.Effect<void, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** Starts a turn without waiting for it (`prompt_async`, 204): follow it on the event stream. */
  readonly promptAsync: (sessionId: string, parts: ReadonlyArray<PromptPart>, options?: PromptOptions) => Effect.Effect<void, OpenCodeUnreachable | OpenCodeRequestFailed | SessionNotFound>
  /** Every session that is not idle (`GET /session/status`): absent means idle. */
  readonly sessionStatus: Effect.Effect<Readonly<Record<string, SessionStatusInfo>>, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** A session's messages, oldest first (`GET /session/:id/message`). */
  readonly messages: (sessionId: string) => Effect.Effect<ReadonlyArray<SessionMessage>, OpenCodeUnreachable | OpenCodeRequestFailed | SessionNotFound>
}>()("dingtalk-mcp-server/OpenCodeClient") {
  /** The client, on its own keep-alive HTTP agents. */
  static readonly layer = Layer.effect(
    OpenCodeClient,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const url = settings.opencode.serverUrl
      // What logs and pages show: without a user:password written into OPENCODE_SERVER_URL.
      const shownUrl = withoutCredentials(url)
      const auth = Option.getOrUndefined(openCodeAuthHeader(settings))
      const headers: Record<string, string> = auth === undefined ? {} : { authorization: auth }
      // Status checks stay with the callers (`ensureOk`): a 404 or 401 means something different per call.
      const client = (yield* keepAliveHttpClient({ keepAlive: true })).pipe(
        HttpClient.mapRequest(flow(HttpClientRequest.prependUrl(url), HttpClientRequest.acceptJson, HttpClientRequest.setHeaders(headers)))
      )

      /** One call; `timeout` 0 leaves the bound to the caller. */
      const call = (operation: string, method: "GET" | "POST" | "DELETE", path: string, body: unknown, timeoutMs: number): Effect.Effect<TextAnswer, OpenCodeUnreachable> =>
        client.execute(HttpClientRequest.make(method)(path).pipe(body === undefined ? identity : HttpClientRequest.bodyJsonUnsafe(body))).pipe(
          Effect.flatMap((response) => Effect.map(response.text, (text): TextAnswer => ({ status: response.status, text }))),
          timeoutMs > 0 ? Effect.timeout(Duration.millis(timeoutMs)) : identity,
          Effect.catch((error) => describeHttpError(error, timeoutMs).pipe(Effect.flatMap((detail) => new OpenCodeUnreachable({ url: shownUrl, detail: `${detail} (${operation})` }))))
        )

      const ensureOk = (operation: string, answer: TextAnswer) =>
        answer.status >= 200 && answer.status < 300
          ? Effect.succeed(answer)
          : Effect.fail(new OpenCodeRequestFailed({ operation, status: answer.status, detail: answer.text.slice(0, 300) }))

      const readJson = <S extends Schema.Top>(operation: string, schema: S) => (answer: TextAnswer) =>
        Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(answer.text).pipe(
          Effect.mapError((error) => new OpenCodeRequestFailed({ operation, status: answer.status, detail: `unexpected answer: ${error.message}` }))
        ) as Effect.Effect<S["Type"], OpenCodeRequestFailed, S["DecodingServices"]>

      /** `GET path`, its answer checked and decoded. */
      const getJson = <S extends Schema.Top>(path: string, schema: S) => {
        const operation = `GET ${path}`
        return call(operation, "GET", path, undefined, CONTROL_TIMEOUT_MS).pipe(
          Effect.flatMap((answer) => ensureOk(operation, answer)),
          Effect.flatMap(readJson(operation, schema))
        )
      }

      const listSessions = getJson("/session", Schema.Array(SessionInfo)).pipe(Effect.withSpan("OpenCodeClient.listSessions"))

      const createSession = Effect.fn("OpenCodeClient.createSession")(function*(title: string) {
        const answer = yield* call("POST /session", "POST", "/session", { title }, CONTROL_TIMEOUT_MS).pipe(Effect.flatMap((a) => ensureOk("POST /session", a)))
        return yield* readJson("POST /session", SessionInfo)(answer)
      })

      const abort = Effect.fn("OpenCodeClient.abort")(function*(sessionId: string) {
        yield* call("abort", "POST", `/session/${encodeURIComponent(sessionId)}/abort`, undefined, CONTROL_TIMEOUT_MS).pipe(Effect.flatMap((a) => ensureOk("abort", a)))
      })

      const turnTimeout = Duration.millis(settings.opencode.turnTimeoutMs)
      const prompt = Effect.fn("OpenCodeClient.prompt")(function*(sessionId: string, parts: ReadonlyArray<PromptPart>, options: PromptOptions = {}) {
        const operation = "POST /session/:id/message"
        // The turn blocks until OpenCode is done: bounded by the turn timeout, which also aborts it in OpenCode.
        const answer = yield* call(operation, "POST", `/session/${encodeURIComponent(sessionId)}/message`, { parts, ...options }, 0).pipe(
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
        const textParts = turn.parts.flatMap((part) => (part.type === "text" && part.text !== undefined && part.text.trim() !== "" ? [part.text] : []))
        return { _tag: "Answered", text: textParts.join("\n\n") } as TurnResult
      })

      const reachable = listSessions.pipe(Effect.as(true), Effect.orElseSucceed(() => false))

      const configProviders = getJson("/config/providers", ConfigProviders).pipe(Effect.withSpan("OpenCodeClient.configProviders"))
      const config = getJson("/config", OpenCodeConfig).pipe(Effect.withSpan("OpenCodeClient.config"))
      const paths = getJson("/path", OpenCodePaths).pipe(Effect.withSpan("OpenCodeClient.paths"))

      const health = getJson("/global/health", ServerHealth).pipe(Effect.withSpan("OpenCodeClient.health"))

      const deleteSession = Effect.fn("OpenCodeClient.deleteSession")(function*(sessionId: string) {
        yield* call("DELETE /session/:id", "DELETE", `/session/${encodeURIComponent(sessionId)}`, undefined, CONTROL_TIMEOUT_MS).pipe(Effect.flatMap((a) => ensureOk("DELETE /session/:id", a)))
      })

      const promptAsync = Effect.fn("OpenCodeClient.promptAsync")(function*(sessionId: string, parts: ReadonlyArray<PromptPart>, options: PromptOptions = {}) {
        const operation = "POST /session/:id/prompt_async"
        const answer = yield* call(operation, "POST", `/session/${encodeURIComponent(sessionId)}/prompt_async`, { parts, ...options }, CONTROL_TIMEOUT_MS)
        if (answer.status === 404) return yield* new SessionNotFound({ sessionId })
        yield* ensureOk(operation, answer)
      })

      const sessionStatus = getJson("/session/status", Schema.Record(Schema.String, SessionStatusInfo)).pipe(Effect.withSpan("OpenCodeClient.sessionStatus"))

      const messages = Effect.fn("OpenCodeClient.messages")(function*(sessionId: string) {
        const operation = "GET /session/:id/message"
        const answer = yield* call(operation, "GET", `/session/${encodeURIComponent(sessionId)}/message`, undefined, CONTROL_TIMEOUT_MS)
        if (answer.status === 404) return yield* new SessionNotFound({ sessionId })
        return yield* ensureOk(operation, answer).pipe(Effect.flatMap(readJson(operation, Schema.Array(SessionMessage))))
      })

      // Answers to the agent's permission requests and questions; a 404 means someone answered first.
      const replyPermission = Effect.fn("OpenCodeClient.replyPermission")(function*(requestId: string, reply: PermissionReply, message?: string) {
        const operation = "POST /permission/:id/reply"
        const body = message === undefined || message === "" ? { reply } : { reply, message }
        const answer = yield* call(operation, "POST", `/permission/${encodeURIComponent(requestId)}/reply`, body, CONTROL_TIMEOUT_MS)
        if (answer.status === 404) return yield* new PermissionNotFound({ requestId })
        yield* ensureOk(operation, answer)
      })
      const questionCall = (requestId: string, action: "reply" | "reject", body: unknown) =>
        Effect.gen(function*() {
          const operation = `POST /question/:id/${action}`
          const answer = yield* call(operation, "POST", `/question/${encodeURIComponent(requestId)}/${action}`, body, CONTROL_TIMEOUT_MS)
          if (answer.status === 404) return yield* new QuestionNotFound({ requestId })
          yield* ensureOk(operation, answer)
        })
      const replyQuestion = Effect.fn("OpenCodeClient.replyQuestion")((requestId: string, answers: ReadonlyArray<ReadonlyArray<string>>) =>
        questionCall(requestId, "reply", { answers })
      )
      const rejectQuestion = Effect.fn("OpenCodeClient.rejectQuestion")((requestId: string) => questionCall(requestId, "reject", undefined))
      const listPermissions = getJson("/permission", Schema.Array(PermissionRequest)).pipe(Effect.withSpan("OpenCodeClient.listPermissions"))
      const listQuestions = getJson("/question", Schema.Array(QuestionRequest)).pipe(Effect.withSpan("OpenCodeClient.listQuestions"))
      const listAgents = getJson("/agent", Schema.Array(AgentInfo)).pipe(Effect.withSpan("OpenCodeClient.agents"))

      return OpenCodeClient.of({
        url: shownUrl,
        listSessions,
        createSession,
        prompt,
        abort,
        reachable,
        health,
        deleteSession,
        promptAsync,
        sessionStatus,
        messages,
        configProviders,
        config,
        paths,
        replyPermission,
        replyQuestion,
        rejectQuestion,
        listPermissions,
        listQuestions,
        agents: listAgents,
      })
    })
  )
}

const withoutCredentials = (url: string): string => {
  const parsed = new URL(url)
  if (parsed.username === "" && parsed.password === "") return url
  parsed.username = ""
  parsed.password = ""
  return parsed.href.replace(/\/+$/, "")
}

const describe = (data: unknown): string => {
  if (typeof data === "object" && data !== null && "message" in data && typeof data.message === "string") return data.message
  return data === undefined ? "no details" : JSON.stringify(data).slice(0, 300)
}
