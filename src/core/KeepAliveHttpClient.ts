/**
 * Effect's `HttpClient` (node:http, see `NodeHttpBackend.ts`) over keep-alive agents owned by the current
 * scope, so the pool and its sockets stay under the bridge's control. Both HTTP clients of the bridge
 * (DingTalk and OpenCode) are built here.
 */
import { Cause, Effect } from "effect"
import { HttpClient, type HttpClientError } from "effect/http"
import http from "node:http"
import https from "node:https"
import type { Duplex } from "node:stream"
import { makeNodeHttpBackend } from "./NodeHttpBackend.js"

/**
 * A client on fresh keep-alive agents; `onNewSocket` sees every socket they open (reuse is observable).
 * node:http rather than undici: undici measured ~0.1 ms less per loopback request but, being loaded with the
 * bridge at startup, made the MCP `initialize` answer ~50 ms later (1.2 MB more to parse).
 */
export const keepAliveHttpClient = (options: http.AgentOptions, onNewSocket: () => void = () => undefined) =>
  Effect.gen(function*() {
    const agents = yield* Effect.acquireRelease(
      Effect.sync(() => ({ http: counting(new http.Agent(options), onNewSocket), https: counting(new https.Agent(options), onNewSocket) })),
      (agents) => Effect.sync(() => {
        agents.http.destroy()
        agents.https.destroy()
      })
    )
    const client = yield* makeNodeHttpBackend(agents)
    // The callers' `Effect.fn` spans already name each request; a client span per request costs ~0.05 ms on
    // loopback, and trace headers are not DingTalk's or OpenCode's business.
    return HttpClient.transformResponse(client, Effect.provideService(HttpClient.TracerDisabledWhen, () => true))
  })

// NodeHttpClient.makeAgent has no hook for new sockets: this wraps the agent's own factory to count them
// (the httpConnections metric).
const counting = <A extends http.Agent>(agent: A, onNewSocket: () => void): A => {
  const create = agent.createConnection.bind(agent)
  agent.createConnection = (...args: Parameters<http.Agent["createConnection"]>): Duplex | null | undefined => {
    onNewSocket()
    return create(...args)
  }
  return agent
}

/** What went wrong with one request, for a person: the socket error, the status and body, or the timeout. */
export const describeHttpError = (error: HttpClientError.HttpClientError | Cause.TimeoutError, timeoutMs: number): Effect.Effect<string> => {
  if (Cause.isTimeoutError(error)) return Effect.succeed(`no answer within ${timeoutMs} ms`)
  const reason = error.reason
  if (reason._tag === "StatusCodeError") {
    return reason.response.text.pipe(
      Effect.map((text) => `HTTP ${reason.response.status}: ${text.slice(0, 200)}`),
      Effect.orElseSucceed(() => `HTTP ${reason.response.status}`)
    )
  }
  const cause = "cause" in reason ? reason.cause : undefined
  return Effect.succeed(cause instanceof Error ? cause.message : reason.description ?? reason._tag)
}
