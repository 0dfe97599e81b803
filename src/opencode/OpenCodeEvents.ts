/**
 * OpenCode's event stream (`GET /event`, Server-Sent Events): ONE subscription per server, decoded with
 * Schema and fanned out through a PubSub to every turn that follows a session. It reconnects on a
 * Schedule when the stream drops or stays silent for about three heartbeats; after a reconnect a turn
 * re-reads the session's state (there is no Last-Event-ID resume in OpenCode).
 */
import { Cause, Context, Duration, Effect, Exit, Layer, Option, PubSub, Queue, Schedule, Schema, Scope, Stream, SubscriptionRef } from "effect"
import http from "node:http"
import https from "node:https"
import { BridgeConfig, openCodeAuthHeader } from "../core/BridgeConfig.js"
import { PermissionRequest } from "./OpenCodeClient.js"

const OptionalString = Schema.optional(Schema.String)

/** A part of a message (`text`, `tool`, `step-start`, `reasoning`, …); only the fields the bridge reads. */
export const EventPart = Schema.Struct({
  id: Schema.String,
  sessionID: Schema.String,
  messageID: Schema.String,
  type: Schema.String,
  text: OptionalString,
  tool: OptionalString,
  callID: OptionalString,
  state: Schema.optional(Schema.Struct({
    status: Schema.String,
    input: Schema.optional(Schema.Unknown),
    output: Schema.optional(Schema.Unknown),
    error: Schema.optional(Schema.Unknown),
    title: OptionalString,
  })),
  time: Schema.optional(Schema.Struct({ start: Schema.optional(Schema.Number), end: Schema.optional(Schema.Number) })),
})
/** A message part as carried by events. */
export type EventPart = typeof EventPart.Type

/** An error OpenCode attaches to a message or a session (`MessageAbortedError`, `ProviderAuthError`, …). */
export const EventError = Schema.Struct({ name: OptionalString, data: Schema.optional(Schema.Unknown) })
/** An OpenCode error object. */
export type EventError = typeof EventError.Type

/** `info` of `message.updated`. */
export const EventMessageInfo = Schema.Struct({
  id: Schema.String,
  sessionID: Schema.String,
  role: Schema.String,
  parentID: OptionalString,
  finish: OptionalString,
  error: Schema.optional(EventError),
  time: Schema.optional(Schema.Struct({ created: Schema.optional(Schema.Number), completed: Schema.optional(Schema.Number) })),
})
/** A message's metadata. */
export type EventMessageInfo = typeof EventMessageInfo.Type

/** `idle`, `busy` or `retry` (with attempt, message, next). */
export const SessionStatus = Schema.Struct({
  type: Schema.String,
  attempt: Schema.optional(Schema.Number),
  message: OptionalString,
  next: Schema.optional(Schema.Number),
})
/** A session's status. */
export type SessionStatus = typeof SessionStatus.Type

const event = <T extends string, P extends Schema.Struct.Fields>(type: T, properties: P) =>
  Schema.Struct({ type: Schema.Literal(type), properties: Schema.Struct(properties) })

/** The events the bridge uses, by type. */
export const KnownEvents = {
  "message.part.updated": event("message.part.updated", { part: EventPart, delta: OptionalString }),
  "message.part.delta": event("message.part.delta", {
    sessionID: Schema.String,
    messageID: Schema.String,
    partID: Schema.String,
    field: Schema.String,
    delta: Schema.String,
  }),
  "message.updated": event("message.updated", { info: EventMessageInfo }),
  "session.status": event("session.status", { sessionID: Schema.String, status: SessionStatus }),
  "session.idle": event("session.idle", { sessionID: Schema.String }),
  "session.error": event("session.error", { sessionID: OptionalString, error: Schema.optional(EventError) }),
  // The request `GET /permission` lists, plus the tool call that asked.
  "permission.asked": event("permission.asked", {
    ...PermissionRequest.fields,
    tool: Schema.optional(Schema.Struct({ messageID: OptionalString, callID: OptionalString })),
  }),
  "permission.replied": event("permission.replied", { sessionID: Schema.String, requestID: Schema.String, reply: Schema.String }),
  "question.asked": event("question.asked", {
    id: Schema.String,
    sessionID: Schema.String,
    questions: Schema.Array(Schema.Struct({
      question: Schema.String,
      header: OptionalString,
      options: Schema.optional(Schema.Array(Schema.Struct({ label: Schema.String, description: OptionalString }))),
      multiple: Schema.optional(Schema.Boolean),
      custom: Schema.optional(Schema.Boolean),
    })),
    tool: Schema.optional(Schema.Struct({ messageID: OptionalString, callID: OptionalString })),
  }),
  "question.replied": event("question.replied", { sessionID: Schema.String, requestID: Schema.String, answers: Schema.Unknown }),
  "question.rejected": event("question.rejected", { sessionID: Schema.String, requestID: Schema.String }),
  "server.connected": event("server.connected", {}),
  "server.heartbeat": event("server.heartbeat", {}),
} as const

type KnownType = keyof typeof KnownEvents
/** One of the events the bridge uses. */
export type KnownEvent = { [K in KnownType]: typeof KnownEvents[K]["Type"] }[KnownType]

/** Any other event (`session.updated`, `todo.updated`, `plugin.added`, …): its name and raw properties. */
export interface OtherEvent {
  readonly type: "other"
  readonly name: string
  readonly properties: unknown
}

/** An event of OpenCode's stream; narrow it on `type`. */
export type OpenCodeEvent = KnownEvent | OtherEvent

const Envelope = Schema.Struct({ type: Schema.String, properties: Schema.optional(Schema.Unknown) })
const decoders = Object.fromEntries(
  Object.entries(KnownEvents).map(([type, schema]) => [type, Schema.decodeUnknownExit(schema as Schema.Top as typeof Envelope)])
) as Record<string, (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>>
const decodeEnvelope = Schema.decodeUnknownExit(Envelope)

/** JSON of one `data:` line, or undefined when it is not JSON. */
const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Decodes one `data:` payload: a known event, another event, or `undefined` when it is not an event we can read. */
export const decodeEvent = (json: unknown): OpenCodeEvent | undefined => {
  const envelope = decodeEnvelope(json)
  if (Exit.isFailure(envelope)) return undefined
  const decode = decoders[envelope.value.type]
  if (decode === undefined) return { type: "other", name: envelope.value.type, properties: envelope.value.properties }
  const known = decode(json)
  return Exit.isSuccess(known) ? known.value as KnownEvent : undefined
}

/** The session an event belongs to: `properties.sessionID`, `properties.info.sessionID` or `properties.part.sessionID`. */
export const sessionIdOf = (event: OpenCodeEvent): string | undefined => {
  const properties = event.properties as { sessionID?: unknown; info?: { sessionID?: unknown }; part?: { sessionID?: unknown } } | undefined
  if (typeof properties !== "object" || properties === null) return undefined
  const id = properties.sessionID ?? properties.info?.sessionID ?? properties.part?.sessionID
  return typeof id === "string" ? id : undefined
}

/** Where the subscription stands. */
export interface EventStreamStatus {
  readonly connected: boolean
  /** Connections opened after the first one. */
  readonly reconnects: number
  /** Lines that were not an event we could read (skipped). */
  readonly undecodable: number
  readonly lastError: string | undefined
}

/** The stream dropped, never opened, or went silent. */
class StreamDropped {
  readonly _tag = "StreamDropped"
  constructor(readonly detail: string) {}
}

/** How long a silent stream is trusted: three heartbeats (OpenCode sends one about every 10 s). */
const DEFAULT_SILENCE_MS = 30_000
/** Connecting (until the response headers) must not hang. */
const CONNECT_TIMEOUT_MS = 15_000

/** OpenCode's events. */
export class OpenCodeEvents extends Context.Service<OpenCodeEvents, {
  /** Every event from the moment the stream is run (subscribes when it starts). */
  readonly events: Stream.Stream<OpenCodeEvent>
  /** A subscription that exists once this returns: subscribe, then prompt, then read (nothing is missed). */
  readonly subscribe: Effect.Effect<PubSub.Subscription<OpenCodeEvent>, never, Scope.Scope>
  /** True while the stream is open. */
  readonly connected: Effect.Effect<boolean>
  /** True when the stream is open; while it is still opening, waits up to `timeoutMs`; false at once after a failed attempt. */
  readonly awaitConnected: (timeoutMs: number) => Effect.Effect<boolean>
  /**
   * Emits the connection number each time the stream opens again after a gap: re-read state then. (A
   * subscription sees the same moment as a `server.connected` event.)
   */
  readonly reconnected: Stream.Stream<number>
  readonly status: Effect.Effect<EventStreamStatus>
}>()("dingtalk-mcp-server/OpenCodeEvents") {
  /** The subscription to `OPENCODE_SERVER_URL`, started with the layer and kept for its lifetime. */
  static readonly layer = Layer.effect(
    OpenCodeEvents,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const url = new URL(`${settings.opencode.serverUrl}/event`)
      const auth = Option.getOrUndefined(openCodeAuthHeader(settings))
      const silence = Duration.millis(settings.opencode.eventSilenceMs ?? DEFAULT_SILENCE_MS)
      const pubsub = yield* PubSub.unbounded<OpenCodeEvent>()
      const state = yield* SubscriptionRef.make<EventStreamStatus>({ connected: false, reconnects: 0, undecodable: 0, lastError: undefined })
      const generation = yield* SubscriptionRef.make(0)
      let opened = 0

      /** Opens the stream; resolves with the response once OpenCode answered 200. */
      const connect = Effect.acquireRelease(
        Effect.callback<http.IncomingMessage, StreamDropped>((resume, signal) => {
          const tls = url.protocol === "https:"
          const request = (tls ? https : http).request(url, {
            method: "GET",
            agent: false,
            headers: { accept: "text/event-stream", ...(auth === undefined ? {} : { authorization: auth }) },
          })
          const timer = setTimeout(() => request.destroy(new Error(`no answer within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS)
          request.on("response", (response) => {
            clearTimeout(timer)
            if (response.statusCode === 200) return resume(Effect.succeed(response))
            response.resume()
            resume(Effect.fail(new StreamDropped(`GET /event answered HTTP ${response.statusCode}`)))
          })
          request.on("error", (error) => {
            clearTimeout(timer)
            resume(Effect.fail(new StreamDropped(error.message)))
          })
          signal.addEventListener("abort", () => {
            clearTimeout(timer)
            request.destroy()
          })
          request.end()
        }),
        (response) => Effect.sync(() => response.destroy())
      )

      const chunks = (response: http.IncomingMessage) =>
        Stream.callback<string, StreamDropped>((queue) =>
          Effect.sync(() => {
            response.setEncoding("utf8")
            response.on("data", (chunk: string) => Queue.offerUnsafe(queue, chunk))
            response.on("end", () => Queue.failCauseUnsafe(queue, Cause.fail(new StreamDropped("OpenCode closed the event stream"))))
            response.on("error", (error) => Queue.failCauseUnsafe(queue, Cause.fail(new StreamDropped(error.message))))
          })
        )

      const onLine = (line: string) =>
        Effect.suspend(() => {
          // Only `data:` lines carry events; blank lines and comments are framing.
          if (!line.startsWith("data:")) return Effect.void
          const decoded = decodeEvent(parseJson(line.slice(5).trim()))
          if (decoded === undefined) {
            return SubscriptionRef.update(state, (s) => ({ ...s, undecodable: s.undecodable + 1 })).pipe(
              Effect.andThen(Effect.logDebug("Undecodable OpenCode event skipped").pipe(Effect.annotateLogs({ line: line.slice(0, 200) })))
            )
          }
          // `server.connected` opens every connection: subscribers see it only after a gap, and then re-read state.
          return decoded.type === "server.connected"
            ? PubSub.publish(pubsub, decoded).pipe(Effect.andThen(markConnected))
            : PubSub.publish(pubsub, decoded)
        })

      const markConnected = Effect.gen(function*() {
        const number = (yield* SubscriptionRef.get(generation)) + 1
        yield* SubscriptionRef.update(state, (s) => ({ ...s, connected: true, reconnects: number > 1 ? s.reconnects + 1 : s.reconnects }))
        yield* SubscriptionRef.set(generation, number)
        if (number > 1) yield* Effect.logInfo("OpenCode event stream reconnected")
      })

      /** One connection, until it drops: always ends in a failure. */
      const session = Effect.gen(function*() {
        const response = yield* connect
        opened++
        yield* chunks(response).pipe(
          Stream.splitLines,
          Stream.timeoutOrElse({ duration: silence, orElse: () => Stream.fail(new StreamDropped(`no event for ${Duration.toMillis(silence)} ms`)) }),
          Stream.runForEach(onLine)
        )
        return yield* Effect.fail(new StreamDropped("OpenCode closed the event stream"))
      }).pipe(
        Effect.scoped,
        Effect.tapError((error) =>
          SubscriptionRef.getAndUpdate(state, (s) => ({ ...s, connected: false, lastError: error.detail })).pipe(
            Effect.flatMap((before) =>
              before.connected
                ? Effect.logWarning("OpenCode event stream lost; reconnecting").pipe(Effect.annotateLogs({ error: error.detail }))
                : Effect.logDebug("OpenCode event stream not available").pipe(Effect.annotateLogs({ error: error.detail }))
            )
          )
        )
      )

      // 1 s, 2 s, 4 s … capped at 15 s, for ever; a connection that lived resets the backoff.
      const backoff = Schedule.exponential(Duration.seconds(1), 2).pipe(
        Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(15))))
      )
      const run = Effect.gen(function*() {
        for (;;) {
          const before = opened
          yield* session.pipe(Effect.retry({ schedule: backoff, while: () => opened === before }), Effect.ignore)
          // The stream opened and then dropped: wait a moment, then start again with a fresh backoff.
          yield* Effect.sleep(Duration.seconds(1))
        }
      })
      yield* Effect.forkScoped(run)

      const connected = SubscriptionRef.get(state).pipe(Effect.map((s) => s.connected))
      const awaitConnected = (timeoutMs: number) =>
        // Every turn asks: answer from the current state when it is settled, without a stream per turn.
        SubscriptionRef.get(state).pipe(Effect.flatMap((now) =>
          now.connected || now.lastError !== undefined
            ? Effect.succeed(now.connected)
            : SubscriptionRef.changes(state).pipe(
              Stream.filter((s) => s.connected || s.lastError !== undefined),
              Stream.runHead,
              Effect.timeoutOption(Duration.millis(timeoutMs)),
              Effect.map((found) => Option.isSome(found) && Option.isSome(found.value) && found.value.value.connected)
            )
        ))

      return OpenCodeEvents.of({
        events: Stream.fromPubSub(pubsub),
        subscribe: PubSub.subscribe(pubsub),
        connected,
        awaitConnected,
        reconnected: SubscriptionRef.changes(generation).pipe(Stream.drop(1), Stream.filter((n) => n > 1)),
        status: SubscriptionRef.get(state),
      })
    })
  )
}
