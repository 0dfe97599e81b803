/**
 * The one keep-alive HTTP pool for everything the bridge sends to DingTalk (gateway, webhooks,
 * token, robot OpenAPI): at most `DINGTALK_HTTP_MAX_SOCKETS` sockets, a per-request timeout, and
 * retries with backoff on network errors and 5xx — never on 4xx. Counts requests vs new sockets,
 * so connection reuse is observable.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Context, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
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
      const client = yield* HttpClient.HttpClient
      const { httpTimeoutMs, httpRetries } = settings.delivery
      const retryPolicy = (times: number) => Schedule.exponential(Duration.millis(Math.min(500, httpTimeoutMs / 4)), 2).pipe(Schedule.upTo({ times: Math.max(0, times) }))

      const postJson = Effect.fn("DingTalkHttp.postJson")(function*(url: string, body: unknown, options: PostOptions = {}) {
        const request = HttpClientRequest.post(url).pipe(
          HttpClientRequest.acceptJson,
          HttpClientRequest.setHeaders(options.headers ?? {}),
          HttpClientRequest.bodyJsonUnsafe(body)
        )
        const attempt = Effect.gen(function*() {
          yield* metrics.increment("httpRequests")
          const response = yield* client.execute(request).pipe(
            Effect.timeoutOrElse({ duration: Duration.millis(httpTimeoutMs), orElse: () => Effect.fail(new Retryable(`no answer within ${httpTimeoutMs} ms`)) }),
            Effect.catchTag("HttpClientError", (error) => Effect.fail(new Retryable(error.reason.message)))
          )
          const text = yield* response.text.pipe(Effect.catchTag("HttpClientError", (error) => Effect.fail(new Retryable(error.reason.message))))
          if (response.status >= 500) return yield* Effect.fail(new Retryable(`HTTP ${response.status}: ${text.slice(0, 200)}`))
          return { status: response.status, body: parseJson(text) } satisfies JsonAnswer
        })
        return yield* attempt.pipe(
          Effect.retry(retryPolicy(options.retries ?? httpRetries)),
          Effect.mapError((error) => new DingTalkUnreachable({ url, detail: error.detail }))
        )
      })
      return DingTalkHttp.of({ postJson })
    })
  )

  /** The pool itself: keep-alive agents that count the sockets they open. */
  static readonly layerPool = Layer.unwrap(Effect.gen(function*() {
    const settings = yield* BridgeConfig
    const metrics = yield* BridgeMetrics
    const agentOptions = { keepAlive: true, maxSockets: settings.delivery.httpMaxSockets, maxFreeSockets: settings.delivery.httpMaxSockets, timeout: settings.delivery.httpTimeoutMs * 6 }
    const countNewSocket = () => Effect.runFork(metrics.increment("httpConnections"))
    const agents = yield* Effect.acquireRelease(
      Effect.sync(() => ({ http: new CountingHttpAgent(agentOptions, countNewSocket), https: new CountingHttpsAgent(agentOptions, countNewSocket) })),
      (agents) => Effect.sync(() => { agents.http.destroy(); agents.https.destroy() })
    )
    return NodeHttpClient.layerNodeHttpNoAgent.pipe(Layer.provide(Layer.succeed(NodeHttpClient.HttpAgent, agents)))
  }))

  /** The service with its pool. */
  static readonly layerWithPool = DingTalkHttp.layer.pipe(Layer.provide(DingTalkHttp.layerPool))
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
