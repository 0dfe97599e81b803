/**
 * One HTTP request with a JSON body over a given `node:http(s)` agent, as an Effect: interruption
 * destroys the request, and the answer is the status and the body text. Both HTTP clients of the
 * bridge (DingTalk and OpenCode) use it: the pool and its sockets stay under the bridge's control,
 * and a request costs a fraction of a millisecond on loopback.
 */
import { Effect } from "effect"
import http from "node:http"
import https from "node:https"
import type { Duplex } from "node:stream"

/** The request could not be sent, or no complete answer came back. */
export class TransportError {
  readonly _tag = "TransportError"
  constructor(readonly detail: string) {}
}

/** An answer: status and the body as text. */
export interface TextAnswer {
  readonly status: number
  readonly text: string
}

/** Agents for plain and TLS URLs. */
export interface Agents {
  readonly http: http.Agent
  readonly https: https.Agent
}

/** Sends one request; `timeoutMs` bounds the wait for the answer (0 = no bound). */
export const requestJson = (options: {
  readonly agents: Agents
  readonly method: "GET" | "POST" | "DELETE"
  readonly url: URL
  readonly headers?: Record<string, string>
  readonly body?: unknown
  readonly timeoutMs: number
}): Effect.Effect<TextAnswer, TransportError> =>
  Effect.callback<TextAnswer, TransportError>((resume, signal) => {
    const tls = options.url.protocol === "https:"
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
    const request = (tls ? https : http).request(options.url, {
      method: options.method,
      agent: tls ? options.agents.https : options.agents.http,
      headers: {
        accept: "application/json",
        ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }),
        ...options.headers,
      },
      ...(options.timeoutMs > 0 ? { timeout: options.timeoutMs } : {}),
    }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("error", (error) => resume(Effect.fail(new TransportError(error.message))))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") })))
    })
    request.on("timeout", () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)))
    request.on("error", (error) => resume(Effect.fail(new TransportError(error.message))))
    signal.addEventListener("abort", () => request.destroy())
    request.end(payload)
  })

/** Parses JSON, or undefined when the text is not JSON. */
export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Keep-alive agents for the current scope; `onNewSocket` sees every socket they open (reuse is observable). */
export const scopedAgents = (options: http.AgentOptions, onNewSocket: () => void = () => undefined) =>
  Effect.acquireRelease(
    Effect.sync((): Agents => ({ http: new CountingHttpAgent(options, onNewSocket), https: new CountingHttpsAgent(options, onNewSocket) })),
    (agents) => Effect.sync(() => {
      agents.http.destroy()
      agents.https.destroy()
    })
  )

class CountingHttpAgent extends http.Agent {
  constructor(options: http.AgentOptions, private readonly onNewSocket: () => void) {
    super(options)
  }
  override createConnection(...args: Parameters<http.Agent["createConnection"]>): Duplex | null | undefined {
    this.onNewSocket()
    return super.createConnection(...args)
  }
}

class CountingHttpsAgent extends https.Agent {
  constructor(options: https.AgentOptions, private readonly onNewSocket: () => void) {
    super(options)
  }
  override createConnection(...args: Parameters<https.Agent["createConnection"]>): Duplex | null | undefined {
    this.onNewSocket()
    return super.createConnection(...args)
  }
}
