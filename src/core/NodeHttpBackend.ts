/**
 * The node:http backend of the bridge's `HttpClient`s. Requests whose body is already in memory (all of
 * the bridge's JSON calls) are written and answered in one `Effect.callback`; `NodeHttpClient` runs
 * every body as a detached upload fiber raced against the response and reads each body through
 * `Effect.cached`: 4 fibers per request. Measured (with Dedup's Map) in bench/versus.ts's harness, the old and new
 * builds at once: 20 → 10 fibers per message, 0.6–1.2 ms less overhead p50. Streamed and form bodies still go
 * through `NodeHttpClient`.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { NodeHttpIncomingMessage } from "@effect/platform-node/NodeHttpIncomingMessage"
import { toArrayBuffer } from "@effect/platform-node/NodeStream"
import { Deferred, Effect } from "effect"
import { pipeArguments } from "effect/Pipeable"
import { Cookies, HttpClient, HttpClientError, type HttpClientRequest, HttpClientResponse, HttpIncomingMessage } from "effect/http"
import http from "node:http"
import https from "node:https"

/** The keep-alive agents requests go through. */
export interface Agents {
  readonly http: http.Agent
  readonly https: https.Agent
}

/** An `HttpClient` over `agents`. */
export const makeNodeHttpBackend = (agents: Agents) =>
  Effect.gen(function*() {
    const streaming = yield* NodeHttpClient.makeNodeHttp.pipe(Effect.provideService(NodeHttpClient.HttpAgent, agents))
    return HttpClient.make((request, url, signal) => {
      const body = request.body
      if (body._tag !== "Uint8Array" && body._tag !== "Empty") return streaming.execute(request)
      return Effect.callback<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
        const secure = url.protocol === "https:"
        const options = { agent: secure ? agents.https : agents.http, method: request.method, headers: request.headers, signal }
        const nodeRequest = secure ? https.request(url, options) : http.request(url, options)
        // Stays attached: an error after the answer (an abort, a socket lost mid-body) must not go unhandled;
        // `resume` ignores all but the first outcome.
        nodeRequest.on("error", (cause) =>
          resume(Effect.fail(new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, cause }) }))))
        nodeRequest.once("response", (source) => resume(Effect.succeed(new NodeHttpResponse(request, source, url.href.split("#")[0]!))))
        if (body._tag === "Empty") nodeRequest.end()
        else nodeRequest.end(body.body)
        return Effect.sync(() => nodeRequest.destroy())
      })
    })
  })

class NodeHttpResponse extends NodeHttpIncomingMessage<HttpClientError.HttpClientError> implements HttpClientResponse.HttpClientResponse {
  readonly [HttpClientResponse.TypeId] = HttpClientResponse.TypeId
  readonly request: HttpClientRequest.HttpClientRequest
  readonly url: string
  /** The body, read once whichever of text, json or arrayBuffer asks first. */
  private body: Deferred.Deferred<ArrayBuffer, HttpClientError.HttpClientError> | undefined

  constructor(request: HttpClientRequest.HttpClientRequest, source: http.IncomingMessage, url: string) {
    let response: NodeHttpResponse | undefined
    super(source, (cause) => new HttpClientError.HttpClientError({ reason: new HttpClientError.DecodeError({ request, response: response!, cause }) }))
    response = this
    this.request = request
    this.url = url
  }

  get status() {
    return this.source.statusCode ?? 0
  }

  get cookies() {
    const header = this.source.headers["set-cookie"]
    return header === undefined ? Cookies.empty : Cookies.fromSetCookie(header)
  }

  get formData() {
    return Effect.fail(this.onError(new Error("form-data response bodies are not read by this client")))
  }

  get upgrade() {
    return Effect.fail(this.onError(new Error("connection upgrades are not asked for by this client")))
  }

  override get arrayBuffer() {
    return Effect.suspend(() => {
      if (this.body !== undefined) return Deferred.await(this.body)
      const body = (this.body = Deferred.makeUnsafe<ArrayBuffer, HttpClientError.HttpClientError>())
      return Effect.withFiber((fiber) => toArrayBuffer(() => this.source, { onError: this.onError, maxBytes: fiber.getRef(HttpIncomingMessage.MaxBodySize) })).pipe(
        Effect.onExit((exit) => Deferred.done(body, exit))
      )
    })
  }

  override toJSON() {
    return { _id: "effect/http/HttpClientResponse", request: this.request.toJSON(), status: this.status }
  }

  pipe() {
    return pipeArguments(this, arguments)
  }
}
