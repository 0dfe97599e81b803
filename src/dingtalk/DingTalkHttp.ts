/**
 * The one keep-alive HTTP pool for everything the bridge sends to DingTalk (gateway, webhooks,
 * token, robot OpenAPI): at most `DINGTALK_HTTP_MAX_SOCKETS` sockets, a per-request timeout, and
 * retries with backoff on network errors and 5xx — never on 4xx. Counts requests vs new sockets,
 * so connection reuse is observable. Plain `node:http` agents: the pool is the point, so it is
 * driven directly rather than through a client that may abort (and so discard) a pooled socket.
 */
import { Context, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { parseJson, requestJson, scopedAgents } from "../core/RequestJson.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"

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
  /** Default `POST`; the card APIs update with `PUT`. */
  readonly method?: "POST" | "PUT"
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
      const agentOptions = { keepAlive: settings.delivery.httpKeepAlive, maxSockets: httpMaxSockets, maxFreeSockets: httpMaxSockets }
      const agents = yield* scopedAgents(agentOptions, countNewSocket)
      const retryPolicy = (times: number) =>
        Schedule.exponential(Duration.millis(Math.min(500, httpTimeoutMs / 4)), 2).pipe(Schedule.upTo({ times: Math.max(0, times) }))

      const attempt = (url: URL, body: unknown, headers: Record<string, string>, method: "POST" | "PUT" = "POST") =>
        requestJson({ agents, method, url, headers, body, timeoutMs: httpTimeoutMs }).pipe(
          Effect.mapError((error) => new Retryable(error.detail)),
          Effect.flatMap(({ status, text }) =>
            status >= 500 ? Effect.fail(new Retryable(`HTTP ${status}: ${text.slice(0, 200)}`)) : Effect.succeed<JsonAnswer>({ status, body: parseJson(text) })
          )
        )

      const postJson = Effect.fn("DingTalkHttp.postJson")(function*(url: string, body: unknown, options: PostOptions = {}) {
        const target = yield* Effect.try({ try: () => new URL(url), catch: () => new DingTalkUnreachable({ url, detail: "invalid URL" }) })
        return yield* metrics.increment("httpRequests").pipe(
          Effect.andThen(attempt(target, body, options.headers ?? {}, options.method)),
          Effect.retry(retryPolicy(options.retries ?? httpRetries)),
          Effect.mapError((error) => new DingTalkUnreachable({ url, detail: error.detail }))
        )
      })
      return DingTalkHttp.of({ postJson })
    })
  )
}
