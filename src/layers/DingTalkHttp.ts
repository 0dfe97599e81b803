/**
 * The one keep-alive HTTP pool for everything the bridge sends to DingTalk (gateway, webhooks,
 * token, robot OpenAPI): at most `DINGTALK_HTTP_MAX_SOCKETS` sockets, a per-request timeout, and
 * retries with backoff on network errors and 5xx — never on 4xx. Counts requests vs new sockets,
 * so connection reuse is observable. Plain `node:http` agents: the pool is the point, so it is
 * driven directly rather than through a client that may abort (and so discard) a pooled socket.
 */
import { Context, Duration, Effect, Layer, Schedule, Schema } from "effect"
import http from "node:http"
import https from "node:https"
import type { Duplex } from "node:stream"
import { BridgeConfig } from "./BridgeConfig.js"
import { BridgeMetrics } from "./BridgeMetrics.js"

/** DingTalk could not be reached, or kept failing with 5xx after the retries. */
export class DingTalkUnreachable extends Schema.TaggedError<DingTalkUnreachable>()("DingTalkUnreachable", {
  url: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return `DingTalk is not reachable at ${redactQuery(this.url)}: ${this.detail}`
  }
}

/** An HTTP answer: status and parsed JSON body (undefined when the body is not JSON). */
export interface JsonAnswer {
  readonly status: number
  readonly body: unknown
}

/** Webhook URLs carry their credential in the query string: never log it. */
export const redactQuery = (url: string): string => url.replace(/\?.*$/, "?…")

/** Per-request options: extra headers, and fewer retries where a caller owns its own policy. */
export interface PostOptions {
  readonly headers?: Record<string, string>
  readonly retries?: number
}

class Retryable {
  constructor(readonly detail: string) {}
}

/** POSTs JSON to DingTalk over the shared pool. */
export class DingTalkHttp extends Context.Service<DingTalkHttp, {
  readonly postJson: (url: string, body: unknown, options?: PostOptions) => Effect.Effect<JsonAnswer, DingTalkUnreachable>
}>()("dingtalk-mcp-server/DingTalkHttp") {
  /** The pool, sized and timed from the configuration. */
  static readonly layer = Layer.effect(
    DingTalkHttp,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const metrics = yield* BridgeMetrics
      const { httpTimeoutMs, httpRetries, httpMaxSockets } = settings.delivery
      const countNewSocket = () => Effect.runSync(metrics.increment("httpConnections"))
      const agentOptions = { keepAlive: true, maxSockets: httpMaxSockets, maxFreeSockets: httpMaxSockets }
      const agents = yield* Effect.acquireRelease(
        Effect.sync(() => ({ http: new CountingHttpAgent(agentOptions, countNewSocket), https: new CountingHttpsAgent(agentOptions, countNewSocket) })),
        (agents) => Effect.sync(() => {
          agents.http.destroy()
          agents.https.destroy()
        })
      )
      const retryPolicy = (times: number) =>
        Schedule.exponential(Duration.millis(Math.min(500, httpTimeoutMs / 4)), 2).pipe(Schedule.upTo({ times: Math.max(0, times) }))

      const attempt = (url: URL, payload: string, headers: Record<string, string>) =>
        Effect.callback<JsonAnswer, Retryable>((resume, signal) => {
          const transport = url.protocol === "https:" ? https : http
          const request = transport.request(url, {
            method: "POST",
            agent: url.protocol === "https:" ? agents.https : agents.http,
            headers: { "content-type": "application/json", accept: "application/json", "content-length": Buffer.byteLength(payload), ...headers },
            timeout: httpTimeoutMs,
          }, (response) => {
            const chunks: Array<Buffer> = []
            response.on("data", (chunk: Buffer) => chunks.push(chunk))
            response.on("error", (error) => resume(Effect.fail(new Retryable(error.message))))
            response.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8")
              const status = response.statusCode ?? 0
              resume(status >= 500 ? Effect.fail(new Retryable(`HTTP ${status}: ${text.slice(0, 200)}`)) : Effect.succeed({ status, body: parseJson(text) }))
            })
          })
          request.on("timeout", () => request.destroy(new Error(`no answer within ${httpTimeoutMs} ms`)))
          request.on("error", (error) => resume(Effect.fail(new Retryable(error.message))))
          signal.addEventListener("abort", () => request.destroy())
          request.end(payload)
        })

      const postJson = Effect.fn("DingTalkHttp.postJson")(function*(url: string, body: unknown, options: PostOptions = {}) {
        const target = yield* Effect.try({ try: () => new URL(url), catch: () => new DingTalkUnreachable({ url, detail: "invalid URL" }) })
        const payload = JSON.stringify(body)
        return yield* metrics.increment("httpRequests").pipe(
          Effect.andThen(attempt(target, payload, options.headers ?? {})),
          Effect.retry(retryPolicy(options.retries ?? httpRetries)),
          Effect.mapError((error) => new DingTalkUnreachable({ url, detail: error.detail }))
        )
      })
      return DingTalkHttp.of({ postJson })
    })
  )
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

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
