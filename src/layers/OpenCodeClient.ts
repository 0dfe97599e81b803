/**
 * The `opencode serve` HTTP API the bridge needs: sessions, a blocking turn, abort.
 * One keep-alive HTTP client, Basic auth when configured, a long per-turn timeout that aborts the
 * turn in OpenCode, and errors that tell a person what to do.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"
import { BridgeConfig, openCodeAuthHeader } from "./BridgeConfig.js"

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

/** Requests that are not turns should answer fast. */
const CONTROL_TIMEOUT = Duration.seconds(15)

/** The OpenCode server API. */
export class OpenCodeClient extends Context.Service<OpenCodeClient, {
  readonly url: string
  readonly listSessions: Effect.Effect<ReadonlyArray<SessionInfo>, OpenCodeUnreachable | OpenCodeRequestFailed>
  readonly createSession: (title: string) => Effect.Effect<SessionInfo, OpenCodeUnreachable | OpenCodeRequestFailed>
  readonly prompt: (sessionId: string, text: string) => Effect.Effect<TurnResult, OpenCodeError>
  readonly abort: (sessionId: string) => Effect.Effect<void, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** True when `GET /session` answers. */
  readonly reachable: Effect.Effect<boolean>
}>()("dingtalk-mcp-server/OpenCodeClient") {
  /** The client, on its own keep-alive HTTP agent. */
  static readonly layer = Layer.effect(
    OpenCodeClient,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const url = settings.opencode.serverUrl
      const auth = openCodeAuthHeader(settings)
      const http = (yield* HttpClient.HttpClient).pipe(
        HttpClient.mapRequest((request) => {
          const withBase = HttpClientRequest.prependUrl(request, url).pipe(HttpClientRequest.acceptJson)
          return Option.match(auth, { onNone: () => withBase, onSome: (header) => HttpClientRequest.setHeader(withBase, "authorization", header) })
        })
      )

      const send = (operation: string, request: HttpClientRequest.HttpClientRequest, timeout: Duration.Duration) =>
        http.execute(request).pipe(
          Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(new OpenCodeUnreachable({ url, detail: `no answer within ${Duration.format(timeout)} on ${operation}` })) }),
          Effect.catchTag("HttpClientError", (error) => Effect.fail(new OpenCodeUnreachable({ url, detail: error.reason.message }))),
          Effect.flatMap((response) => ensureOk(operation, response))
        )

      const ensureOk = (operation: string, response: HttpClientResponse.HttpClientResponse) =>
        response.status >= 200 && response.status < 300
          ? Effect.succeed(response)
          : response.text.pipe(
            Effect.orElseSucceed(() => ""),
            Effect.flatMap((body) => Effect.fail(new OpenCodeRequestFailed({ operation, status: response.status, detail: body.slice(0, 300) })))
          )

      const readJson = <S extends Schema.Top>(operation: string, schema: S) => (response: HttpClientResponse.HttpClientResponse) =>
        response.json.pipe(
          Effect.flatMap(Schema.decodeUnknownEffect(schema)),
          Effect.mapError((error) => new OpenCodeRequestFailed({ operation, status: response.status, detail: `unexpected answer: ${error.message}` }))
        ) as Effect.Effect<S["Type"], OpenCodeRequestFailed, S["DecodingServices"]>

      const listSessions = send("GET /session", HttpClientRequest.get("/session"), CONTROL_TIMEOUT).pipe(
        Effect.flatMap(readJson("GET /session", Schema.Array(SessionInfo))),
        Effect.withSpan("OpenCodeClient.listSessions")
      )

      const createSession = Effect.fn("OpenCodeClient.createSession")(function*(title: string) {
        const response = yield* send("POST /session", HttpClientRequest.post("/session").pipe(HttpClientRequest.bodyJsonUnsafe({ title })), CONTROL_TIMEOUT)
        return yield* readJson("POST /session", SessionInfo)(response)
      })

      const abort = Effect.fn("OpenCodeClient.abort")(function*(sessionId: string) {
        yield* send("abort", HttpClientRequest.post(`/session/${encodeURIComponent(sessionId)}/abort`), CONTROL_TIMEOUT)
      })

      const timeout = Duration.millis(settings.opencode.turnTimeoutMs)
      const prompt = Effect.fn("OpenCodeClient.prompt")(function*(sessionId: string, text: string) {
        const operation = "POST /session/:id/message"
        const request = HttpClientRequest.post(`/session/${encodeURIComponent(sessionId)}/message`).pipe(
          HttpClientRequest.bodyJsonUnsafe({ parts: [{ type: "text", text }] })
        )
        const response = yield* http.execute(request).pipe(
          Effect.catchTag("HttpClientError", (error) => Effect.fail(new OpenCodeUnreachable({ url, detail: error.reason.message }))),
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => abort(sessionId).pipe(Effect.ignore, Effect.andThen(Effect.fail(new TurnTimedOut({ sessionId, timeoutMs: settings.opencode.turnTimeoutMs })))),
          })
        )
        if (response.status === 404) return yield* new SessionNotFound({ sessionId })
        const answer = yield* ensureOk(operation, response).pipe(Effect.flatMap(readJson(operation, TurnAnswer)))
        const error = answer.info.error
        if (error !== undefined) {
          if (error.name === "MessageAbortedError") return { _tag: "Aborted" } as TurnResult
          return yield* new TurnFailed({ sessionId, name: error.name ?? "error", detail: describe(error.data) })
        }
        const textParts = answer.parts.flatMap((part) => (part.type === "text" && part.text !== undefined && part.text.trim() !== "" ? [part.text] : []))
        return { _tag: "Answered", text: textParts.join("\n\n") } as TurnResult
      })

      const reachable = listSessions.pipe(Effect.as(true), Effect.orElseSucceed(() => false))

      return OpenCodeClient.of({ url, listSessions, createSession, prompt, abort, reachable })
    })
  ).pipe(Layer.provide(NodeHttpClient.layerNodeHttpOptions({ keepAlive: true, maxSockets: 32 })))
}

const describe = (data: unknown): string => {
  if (typeof data === "object" && data !== null && "message" in data && typeof data.message === "string") return data.message
  return data === undefined ? "no details" : JSON.stringify(data).slice(0, 300)
}
