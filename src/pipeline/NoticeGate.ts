/**
 * Refusal, pairing and "busy" notices are courtesy, not answers: at most one per sender and kind per
 * window, and all of them together on a small budget of their own, so a flood from an outsider
 * cannot spend the robot's reply budget (DingTalk allows about 20 messages a minute) on notices.
 */
import { Clock, Effect } from "effect"

/** What a notice is about: access (refusal or pairing code) or a full backlog. */
export type NoticeKind = "access" | "busy"

/** Limits of the gate. */
export interface NoticeGateOptions {
  /** One notice of a kind per sender per this window. Default 10 minutes. */
  readonly perSenderWindowMs?: number
  /** At most this many notices per `budgetWindowMs`, all senders together. Default 5. */
  readonly budget?: number
  /** Default 1 minute. */
  readonly budgetWindowMs?: number
}

/** Senders remembered at most (the oldest are forgotten first). */
const MAX_TRACKED = 10_000

/** The gate: `admit` says whether a notice may go out now, and counts it when it may. */
export interface NoticeGate {
  readonly admit: (kind: NoticeKind, senderKey: string) => Effect.Effect<boolean>
}

/** Creates a gate; time comes from `Clock`. */
export const makeNoticeGate = (options: NoticeGateOptions = {}): NoticeGate => {
  const perSenderWindowMs = options.perSenderWindowMs ?? 10 * 60_000
  const budget = options.budget ?? 5
  const budgetWindowMs = options.budgetWindowMs ?? 60_000
  const lastBySender = new Map<string, number>()
  const recent: Array<number> = []

  return {
    admit: (kind, senderKey) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const key = `${kind}:${senderKey}`
        const last = lastBySender.get(key)
        if (last !== undefined && now - last < perSenderWindowMs) return false
        while (recent.length > 0 && now - recent[0]! >= budgetWindowMs) recent.shift()
        if (recent.length >= budget) return false
        recent.push(now)
        // Re-inserting keeps the Map in last-notice order, so the first key is the one to forget.
        lastBySender.delete(key)
        lastBySender.set(key, now)
        if (lastBySender.size > MAX_TRACKED) lastBySender.delete(lastBySender.keys().next().value!)
        return true
      }),
  }
}
