/**
 * The DingTalk Stream-mode connection as a service: a Stream of acked CALLBACK frames, the
 * connection status as data, and a fatal signal when the connection cannot be kept.
 * Owns the reconnect loop (Effect `Schedule`), the `disconnect` hand-over and the dead-socket watchdog.
 */
import { Clock, Context, Deferred, Duration, Effect, Fiber, Layer, Queue, Redacted, Ref, Result, Schedule, Schema, Scope, Stream } from "effect"
import { ConnectionLost, reconnectSchedule, superviseConnection, type ConnectionOutcome } from "./Reconnect.js"
import { CARD_TOPIC, ROBOT_TOPIC, StreamClient } from "./StreamClient.js"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { DingTalkHttp, type DingTalkUnreachable } from "./DingTalkHttp.js"
import { checkGatewayEndpoint, describeUrl } from "./OutboundPolicy.js"

/** A CALLBACK frame that has been acked: what the pipeline consumes. */
export interface CallbackFrame {
  readonly frameId: string
  readonly connectionId: string
  readonly topic: string
  /** The robot message as a JSON string, still to be decoded. */
  readonly data: unknown
  readonly receivedAt: number
}

/** A frame that could not be read at all (not JSON, no headers). */
export interface MalformedFrame {
  readonly connectionId: string
  readonly raw: string
  readonly reason: string
}

/** Where the connection stands. */
export interface ConnectionStatus {
  readonly state: "connecting" | "connected" | "backoff" | "failed" | "stopped" | "client"
  readonly connectionId: string | undefined
  readonly connectedSince: number | undefined
  /** Consecutive failed attempts so far (0 when healthy). */
  readonly attempt: number
  readonly nextRetryAt: number | undefined
  readonly reconnects: number
  readonly lastError: string | undefined
  readonly openConnections: number
}

/** The gateway refused our credentials: a configuration problem, not worth retrying. */
export class CredentialsRejected extends Schema.TaggedError<CredentialsRejected>()("CredentialsRejected", {
  status: Schema.Number,
  detail: Schema.String,
}) {
  override get message() {
    return `DingTalk rejected DINGTALK_CLIENT_ID / DINGTALK_CLIENT_SECRET (HTTP ${this.status}: ${this.detail}). ` +
      "Copy the AppKey and AppSecret of your robot app from open-dev.dingtalk.com into the environment or .env."
  }
}

/** The gateway or the WebSocket failed in a way worth retrying. */
export class ConnectFailed extends Schema.TaggedError<ConnectFailed>()("ConnectFailed", {
  detail: Schema.String,
}) {
  override get message() {
    return this.detail
  }
}

/** The connection could not be kept: every reconnect attempt failed. */
export class ReconnectExhausted extends Schema.TaggedError<ReconnectExhausted>()("ReconnectExhausted", {
  attempts: Schema.Number,
  lastError: Schema.String,
}) {
  override get message() {
    return `DingTalk connection failed ${this.attempts} times in a row (last error: ${this.lastError}); giving up so a supervisor can restart the process.`
  }
}

/** Why the DingTalk connection stopped for good. */
export type ConnectionFatal = CredentialsRejected | ReconnectExhausted

/** Nothing connected yet, nothing tried. */
const statusAtStart = (state: ConnectionStatus["state"]): ConnectionStatus => ({
  state, connectionId: undefined, connectedSince: undefined, attempt: 0,
  nextRetryAt: undefined, reconnects: 0, lastError: undefined, openConnections: 0,
})

const GatewayAnswer = Schema.Struct({ endpoint: Schema.NonEmptyString, ticket: Schema.NonEmptyString })

/** The DingTalk Stream connection. */
export class DingTalkStream extends Context.Service<DingTalkStream, {
  /** Acked CALLBACK frames from every open connection, in arrival order. */
  readonly frames: Stream.Stream<CallbackFrame>
  /** Frames that could not be read. */
  readonly malformed: Stream.Stream<MalformedFrame>
  readonly status: Effect.Effect<ConnectionStatus>
  /** Fails when the connection is lost for good; never succeeds. */
  readonly fatal: Effect.Effect<never, ConnectionFatal>
}>()("dingtalk-mcp-server/DingTalkStream") {
  /** No connection at all (an MCP-only cluster client): no frames, status `client`, never fatal. */
  static readonly layerNone = Layer.succeed(DingTalkStream, {
    frames: Stream.never,
    malformed: Stream.never,
    status: Effect.succeed(statusAtStart("client")),
    fatal: Effect.never,
  })

  /** Connects at once and keeps the connection up until the layer is released. */
  static readonly layer = Layer.effect(
    DingTalkStream,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const http = yield* DingTalkHttp
      const config = settings.dingtalk
      const frames = yield* Queue.unbounded<CallbackFrame>()
      const malformed = yield* Queue.sliding<MalformedFrame>(100)
      const fatal = yield* Deferred.make<never, ConnectionFatal>()
      const status = yield* Ref.make(statusAtStart("connecting"))
      // Forks that must end with the layer (not with one connection) live in its scope.
      const layerScope = yield* Scope.Scope
      const live = new Set<StreamClient>()
      let connectionCounter = 0
      const clock = yield* Clock.Clock
      const setStatus = (patch: Partial<ConnectionStatus>) => Ref.update(status, (s) => ({ ...s, ...patch, openConnections: live.size }))

      // On release: stop reconnecting first (the loop fiber is interrupted before this runs), then close.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => { for (const client of live) client.close(); live.clear() }).pipe(Effect.andThen(setStatus({ state: "stopped" })))
      )

      const openGateway = Effect.gen(function*() {
        const answer = yield* http.postJson(`${config.apiUrl}/v1.0/gateway/connections/open`, {
          clientId: config.clientId,
          clientSecret: Redacted.value(config.clientSecret),
          ua: "dingtalk-mcp-server",
          localIp: "",
          subscriptions: [
            { type: "CALLBACK", topic: ROBOT_TOPIC },
            // Button clicks of interactive cards, when a template for them is configured.
            ...(settings.interactive.actionCardTemplateId._tag === "Some" ? [{ type: "CALLBACK", topic: CARD_TOPIC }] : []),
          ],
        }, { retries: 0 }).pipe(Effect.mapError((error: DingTalkUnreachable) => new ConnectFailed({ detail: error.message })))
        if (answer.status >= 400 && answer.status < 500 && answer.status !== 408 && answer.status !== 429) {
          return yield* new CredentialsRejected({ status: answer.status, detail: describeGatewayError(answer.body) })
        }
        if (answer.status !== 200) return yield* new ConnectFailed({ detail: `gateway answered HTTP ${answer.status}` })
        const opened = yield* Schema.decodeUnknownEffect(GatewayAnswer)(answer.body).pipe(
          Effect.mapError(() => new ConnectFailed({ detail: "gateway answer has no endpoint or ticket" }))
        )
        const endpoint = checkGatewayEndpoint(opened.endpoint)
        if (Result.isFailure(endpoint)) {
          return yield* new ConnectFailed({ detail: `refused the gateway endpoint ${describeUrl(opened.endpoint)}: ${endpoint.failure}` })
        }
        return opened
      }).pipe(Effect.withSpan("DingTalkStream.openGateway"))

      /** One connection, from gateway ticket to its end. */
      const serve: Effect.Effect<ConnectionOutcome, CredentialsRejected | ConnectFailed> = Effect.gen(function*() {
        const { endpoint, ticket } = yield* openGateway
        const connectionId = `c${++connectionCounter}`
        const ended = yield* Deferred.make<string>()
        const end = (reason: string) => Deferred.doneUnsafe(ended, Effect.succeed(reason))
        const client = new StreamClient(
          { clientId: config.clientId, clientSecret: Redacted.value(config.clientSecret), ua: "dingtalk-mcp-server" },
          {
            onCallback: (frame) => {
              Queue.offerUnsafe(frames, { frameId: frame.headers.messageId, connectionId, topic: frame.headers.topic, data: frame.data, receivedAt: clock.currentTimeMillisUnsafe() })
            },
            onDisconnectNotice: () => end("disconnect notice"),
            onMalformedFrame: (raw, reason) => {
              Queue.offerUnsafe(malformed, { connectionId, raw: raw.slice(0, 200), reason })
            },
          },
          clock
        )
        yield* Effect.tryPromise({
          try: () => client.open(endpoint, ticket),
          catch: (error) => new ConnectFailed({ detail: `WebSocket did not open: ${error instanceof Error ? error.message : String(error)}` }),
        })
        live.add(client)
        client.webSocket?.on("close", (code) => end(`socket closed (${code})`))
        const connectedAt = yield* Clock.currentTimeMillis
        yield* setStatus({ state: "connected", connectionId, connectedSince: connectedAt, nextRetryAt: undefined, attempt: 0 })
        yield* Effect.logInfo("DingTalk connected").pipe(Effect.annotateLogs({ connectionId }))

        // Watchdog: a half-open socket never emits close, so silence itself must end the connection.
        const watchdog = yield* Clock.currentTimeMillis.pipe(Effect.map((now) => {
          if (now - client.lastActivity > config.deadSocketMs) {
            client.terminate()
            end(`no frame or pong for ${config.deadSocketMs} ms`)
          } else {
            client.webSocket?.ping()
          }
        })).pipe(Effect.repeat(Schedule.spaced(Duration.millis(config.pingIntervalMs))), Effect.forkChild)

        const reason = yield* Deferred.await(ended).pipe(Effect.onInterrupt(() => Effect.sync(() => {
          live.delete(client)
          client.close()
        })))
        yield* Fiber.interrupt(watchdog)
        const handover = reason === "disconnect notice"
        if (handover) {
          // Keep the old socket until the server closes it (or the drain time ends): its pushes still count.
          yield* Effect.forkIn(Effect.sleep(Duration.millis(config.disconnectDrainMs)).pipe(Effect.andThen(Effect.sync(() => client.close()))), layerScope)
          client.webSocket?.once("close", () => live.delete(client))
        } else {
          live.delete(client)
          client.terminate()
        }
        yield* setStatus({ connectionId: undefined, connectedSince: undefined })
        yield* Ref.update(status, (s) => ({ ...s, reconnects: s.reconnects + 1 }))
        yield* Effect.logWarning("DingTalk connection ended; reconnecting").pipe(Effect.annotateLogs({ connectionId, reason }))
        const endedAt = yield* Clock.currentTimeMillis
        return { healthy: handover || endedAt - connectedAt >= config.healthyAfterMs, reason }
      })

      const loop = superviseConnection({
        serve,
        schedule: reconnectSchedule<CredentialsRejected | ConnectFailed | ConnectionLost>({ baseMs: config.reconnectBaseMs, maxAttempts: config.reconnectMaxAttempts, jitter: config.reconnectJitter }),
        retryable: (error) => error._tag !== "CredentialsRejected",
        onRetry: (attempt, delay, error) =>
          Clock.currentTimeMillis.pipe(
            Effect.flatMap((now) => setStatus({ state: "backoff", attempt, nextRetryAt: now + Duration.toMillis(delay), lastError: error.message })),
            Effect.andThen(Effect.logWarning(`DingTalk connection attempt ${attempt} failed; retrying in ${Duration.format(delay)}`).pipe(Effect.annotateLogs({ error: error.message })))
          ),
      }).pipe(
        Effect.catch((error) =>
          Effect.gen(function*() {
            const current = yield* Ref.get(status)
            const failure: ConnectionFatal = error._tag === "CredentialsRejected" ? error : new ReconnectExhausted({ attempts: current.attempt + 1, lastError: error.message })
            yield* setStatus({ state: "failed", lastError: failure.message })
            yield* Deferred.fail(fatal, failure)
          })
        )
      )
      yield* Effect.forkScoped(loop)

      return DingTalkStream.of({
        frames: Stream.fromQueue(frames),
        malformed: Stream.fromQueue(malformed),
        status: Ref.get(status).pipe(Effect.map((s) => ({ ...s, openConnections: live.size }))),
        fatal: Deferred.await(fatal),
      })
    })
  )
}

const describeGatewayError = (body: unknown): string => {
  if (typeof body === "object" && body !== null) {
    const { code, message } = body as { code?: unknown; message?: unknown }
    return [code, message].filter((part) => typeof part === "string").join(": ") || "no details"
  }
  return "no details"
}

