/** `dingtalk_get_stats`: is the bridge connected, and what has it done. */
import { Effect, Schema } from "effect"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { AccessPolicy } from "../dingtalk/AccessPolicy.js"
import { DingTalkStream } from "../dingtalk/DingTalkStream.js"
import { Cards } from "../dingtalk/Cards.js"
import { OpenCodeEvents } from "../opencode/OpenCodeEvents.js"
import { asJson, defineTool } from "./Tool.js"

const startedAt = Date.now()
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())

/** The tool. */
export const getStats = defineTool({
  name: "dingtalk_get_stats",
  annotations: { title: "DingTalk bridge health", readOnlyHint: true, openWorldHint: false },
  description:
    "Show the DingTalk bridge's health: connection state (connecting, connected, backoff, failed), reconnects, last error, " +
    "counts of messages received, duplicates, malformed, denied, processed, failed and replies sent, AI cards (on, paused and why, created, updates, " +
    "fallbacks to markdown), OpenCode's event stream (connected, reconnects), which process (pid) owns the connection, " +
    "and access: the mode (pairing, allowlist, open) and the pairing codes waiting for approval (see dingtalk_approve_pairing).",
  input: Schema.Struct({}),
  run: () =>
    Effect.gen(function*() {
      const connection = yield* DingTalkStream.use((stream) => stream.status)
      const { counters } = yield* BridgeMetrics.use((metrics) => metrics.snapshot)
      const policy = yield* AccessPolicy
      const pending = yield* policy.pending
      const cards = yield* Cards.use((cards) => cards.status)
      const events = yield* OpenCodeEvents.use((events) => events.status)
      const paused = cards.pausedUntil !== undefined && cards.pausedUntil > Date.now()
      const stats = {
        connection: {
          state: connection.state,
          connectedSince: iso(connection.connectedSince),
          attempt: connection.attempt,
          nextRetryAt: iso(connection.nextRetryAt),
          reconnects: connection.reconnects,
          openConnections: connection.openConnections,
          lastError: connection.lastError ?? null,
        },
        messages: {
          received: counters.received,
          duplicates: counters.duplicates,
          malformed: counters.malformed,
          unsupported: counters.unsupported,
          denied: counters.denied,
          busy: counters.busy,
          commands: counters.commands,
          processed: counters.processed,
          failed: counters.failed,
          timedOut: counters.timedOut,
        },
        access: {
          mode: policy.mode,
          approvedSenders: yield* policy.approvedCount,
          pending: pending.map((p) => ({
            code: p.code, sender: p.senderKey, nick: p.senderNick, conversation: p.conversationType === "group" ? "group" : "1:1", expiresAt: iso(p.expiresAt),
          })),
          pairingCodesIssued: counters.pairingCodes,
          noticesSuppressed: counters.noticesSuppressed,
        },
        replies: {
          sent: counters.replies,
          parts: counters.replyParts,
          failures: counters.replyFailures,
          openApiFallbacks: counters.openApiFallbacks,
          throttleRetries: counters.throttleRetries,
        },
        cards: {
          enabled: cards.enabled,
          paused,
          pausedUntil: paused ? iso(cards.pausedUntil) : null,
          pauseReason: paused ? cards.pauseReason ?? null : null,
          created: counters.cardsCreated,
          updates: counters.cardUpdates,
          fallbacks: counters.cardFallbacks,
          progressNotices: counters.progressNotices,
        },
        opencodeEvents: { connected: events.connected, reconnects: events.reconnects, undecodable: events.undecodable, lastError: events.lastError ?? null },
        // Tools run in the process that owns the connection (other instances forward to it).
        owner: { pid: process.pid, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) },
      }
      return { text: asJson(stats), structured: stats }
    }),
})
