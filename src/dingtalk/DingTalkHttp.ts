/**
 * The one keep-alive HTTP pool for everything the bridge sends to DingTalk (gateway, webhooks,
 * token, robot OpenAPI): at most `DINGTALK_HTTP_MAX_SOCKETS` sockets, a per-request timeout, and
 * retries with backoff on network errors and 5xx — never on 4xx. Counts requests vs new sockets,
 * so connection reuse is observable.
 */
import { Clock, Context, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { describeHttpError, keepAliveHttpClient } from "../core/KeepAliveHttpClient.js"
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
  /** Default `POST`; the card API updates with `PUT`. */
  readonly method?: "POST" | "PUT"
  readonly retries?: number
}

/** A POST the test double received: where, what (a JSON body a test inspects), with which headers, and when (`Clock`). */
export interface RecordedPost {
  readonly url: string
  readonly body: any
  readonly headers: Record<string, string>
  readonly at: number
}

/** Any JSON body, or undefined when the body is not JSON (DingTalk's error pages are HTML). */
const JsonBody = Schema.fromJsonString(Schema.Unknown)
const decodeBody = (text: string) => Schema.decodeUnknownEffect(JsonBody)(text).pipe(Effect.orElseSucceed(() => undefined))

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
      const pool = (yield* keepAliveHttpClient(agentOptions, countNewSocket)).pipe(
        HttpClient.mapRequest(HttpClientRequest.acceptJson),
        // The bound covers the whole answer, body included: a stalled body is retried like a stalled connect;
        // reading it also frees the socket for reuse.
        HttpClient.transformResponse((response) => response.pipe(Effect.tap((r) => r.arrayBuffer), Effect.timeout(Duration.millis(httpTimeoutMs)))),
        // 5xx become errors (retried when transient); 4xx are answers the caller reads.
        HttpClient.filterStatus((status) => status < 500)
      )
      const retryPolicy = (times: number) =>
        Schedule.exponential(Duration.millis(Math.min(500, httpTimeoutMs / 4)), 2).pipe(Schedule.upTo({ times: Math.max(0, times) }))
      const clients = new Map<number, typeof pool>()
      const withRetries = (times: number): typeof pool => {
        const known = clients.get(times)
        if (known !== undefined) return known
        const client = HttpClient.retryTransient(pool, { retryOn: "errors-only", schedule: retryPolicy(times) })
        clients.set(times, client)
        return client
      }

      const postJson = Effect.fn("DingTalkHttp.postJson")(function*(url: string, body: unknown, options: PostOptions = {}) {
        yield* metrics.increment("httpRequests")
        const request = HttpClientRequest.make(options.method ?? "POST")(url).pipe(HttpClientRequest.setHeaders(options.headers ?? {}), HttpClientRequest.bodyJsonUnsafe(body))
        const response = yield* withRetries(options.retries ?? httpRetries).execute(request).pipe(
          Effect.catch((error) => describeHttpError(error, httpTimeoutMs).pipe(Effect.flatMap((detail) => new DingTalkUnreachable({ url, detail }))))
        )
        const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        return { status: response.status, body: yield* decodeBody(text) } satisfies JsonAnswer
      })
      return DingTalkHttp.of({ postJson })
    })
  )

  /** A DingTalk that records every POST into `sent` and answers from `answer` (default: `errcode 0`). */
  static readonly layerTest = (
    answer: (url: string, body: RecordedPost["body"]) => JsonAnswer = () => ({ status: 200, body: { errcode: 0 } }),
    sent: Array<RecordedPost> = []
  ): Layer.Layer<DingTalkHttp> =>
    Layer.succeed(DingTalkHttp, DingTalkHttp.of({
      postJson: Effect.fn("DingTalkHttp.postJson")(function*(url: string, body: unknown, options: PostOptions = {}) {
        const at = yield* Clock.currentTimeMillis
        sent.push({ url, body, headers: options.headers ?? {}, at })
        return answer(url, body)
      }),
    }))
}
