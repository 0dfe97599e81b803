/**
 * Which OpenCode session belongs to which DingTalk conversation. Cached (Effect `Cache`); on a
 * miss — eviction or a restart — the conversation's existing session is found by its title before a
 * new one is created, so the agent keeps its context across restarts.
 */
import { Cache, Context, Duration, Effect, Exit, Layer, Option } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { OpenCodeClient, type OpenCodeRequestFailed, type OpenCodeUnreachable, type SessionInfo } from "./OpenCodeClient.js"

/** The title carries the conversation ID in brackets: how a session is found again after a restart. */
export const sessionTitle = (label: string, conversationId: string): string => `DingTalk: ${label} [${conversationId}]`

const belongsTo = (conversationId: string) => (session: SessionInfo) => session.title?.endsWith(`[${conversationId}]`) ?? false
/** The conversation ID in a bridge session's title, if it is one. */
const conversationInTitle = (title: string | undefined): string | undefined => /^DingTalk: .*\[([^\[\]]+)\]$/.exec(title ?? "")?.[1]
const lastTouched = (session: SessionInfo) => session.time?.updated ?? session.time?.created ?? 0

type SessionError = OpenCodeUnreachable | OpenCodeRequestFailed

/** Conversation → OpenCode session. */
export class Sessions extends Context.Service<Sessions, {
  /** The conversation's session: cached, found by title, or created with `label` in its title. */
  readonly sessionFor: (conversationId: string, label: string) => Effect.Effect<string, SessionError>
  /** A fresh session for the conversation (`/new`). */
  readonly startNew: (conversationId: string, label: string) => Effect.Effect<string, SessionError>
  /** Drop the mapping (the session was deleted in OpenCode). */
  readonly forget: (conversationId: string) => Effect.Effect<void>
  /** The cached session, if any, without asking OpenCode. */
  readonly peek: (conversationId: string) => Effect.Effect<Option.Option<string>>
  /** The conversation a session belongs to (by what the bridge created or used, else by its title). */
  readonly conversationOf: (sessionId: string) => Effect.Effect<Option.Option<string>, SessionError>
  /** The conversation's sessions in OpenCode, most recently used first (`/sessions`). */
  readonly listFor: (conversationId: string) => Effect.Effect<ReadonlyArray<SessionInfo>, SessionError>
  /** Makes `sessionId` the conversation's session (`/session <n>`, or a choice remembered across a restart). */
  readonly use: (conversationId: string, sessionId: string) => Effect.Effect<void>
}>()("dingtalk-mcp-server/Sessions") {
  /** Sessions in the configured OpenCode. */
  static readonly layer = Layer.effect(
    Sessions,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const opencode = yield* OpenCodeClient
      // The cache looks sessions up by conversation only; the label of a new one comes from the last caller.
      const labels = new Map<string, string>()
      // Session → conversation, for events that name only the session; and sessions chosen with `use`.
      const owners = new Map<string, string>()
      const pinned = new Map<string, string>()
      const own = (conversationId: string) => (sessionId: string) => Effect.sync(() => owners.set(sessionId, conversationId))

      const create = Effect.fn("Sessions.create")(function*(conversationId: string) {
        const label = labels.get(conversationId) ?? "conversation"
        const session = yield* opencode.createSession(sessionTitle(label, conversationId))
        yield* Effect.logInfo("Created OpenCode session").pipe(Effect.annotateLogs({ conversationId, sessionId: session.id }))
        return session.id
      })

      const findOrCreate = Effect.fn("Sessions.findOrCreate")(function*(conversationId: string) {
        const all = yield* opencode.listSessions
        const chosen = pinned.get(conversationId)
        if (chosen !== undefined && all.some((session) => session.id === chosen)) return chosen
        const existing = all.filter(belongsTo(conversationId))
        if (existing.length === 0) return yield* create(conversationId)
        const newest = existing.reduce((a, b) => (lastTouched(b) > lastTouched(a) ? b : a))
        yield* Effect.logInfo("Reusing OpenCode session").pipe(Effect.annotateLogs({ conversationId, sessionId: newest.id }))
        return newest.id
      })

      const ttl = Duration.millis(settings.pipeline.sessionCacheTtlMs)
      // Failures are not cached: the next message asks OpenCode again.
      const cache = yield* Cache.makeWith((conversationId: string) => findOrCreate(conversationId).pipe(Effect.tap(own(conversationId))), {
        capacity: settings.pipeline.sessionCacheCapacity,
        timeToLive: (exit) => (Exit.isSuccess(exit) ? ttl : Duration.zero),
      })

      const sessionFor = Effect.fn("Sessions.sessionFor")(function*(conversationId: string, label: string) {
        labels.set(conversationId, label)
        return yield* Cache.get(cache, conversationId)
      })
      const startNew = Effect.fn("Sessions.startNew")(function*(conversationId: string, label: string) {
        labels.set(conversationId, label)
        const id = yield* create(conversationId)
        owners.set(id, conversationId)
        yield* Cache.set(cache, conversationId, id)
        return id
      })
      const forget = Effect.fn("Sessions.forget")(function*(conversationId: string) {
        yield* Cache.invalidate(cache, conversationId)
      })
      const peek = Effect.fn("Sessions.peek")(function*(conversationId: string) {
        return yield* Cache.getSuccess(cache, conversationId)
      })
      const conversationOf = Effect.fn("Sessions.conversationOf")(function*(sessionId: string) {
        const known = owners.get(sessionId)
        if (known !== undefined) return Option.some(known)
        const conversationId = conversationInTitle((yield* opencode.listSessions).find((session) => session.id === sessionId)?.title)
        if (conversationId !== undefined) owners.set(sessionId, conversationId)
        return Option.fromUndefinedOr(conversationId)
      })
      const listFor = Effect.fn("Sessions.listFor")(function*(conversationId: string) {
        return (yield* opencode.listSessions).filter(belongsTo(conversationId)).sort((a, b) => lastTouched(b) - lastTouched(a))
      })
      const use = Effect.fn("Sessions.use")(function*(conversationId: string, sessionId: string) {
        pinned.set(conversationId, sessionId)
        owners.set(sessionId, conversationId)
        yield* Cache.set(cache, conversationId, sessionId)
      })
      return Sessions.of({ sessionFor, startNew, forget, peek, conversationOf, listFor, use })
    })
  )
}
