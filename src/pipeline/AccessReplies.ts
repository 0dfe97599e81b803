/**
 * What the pipeline says to people the access policy did not let in (a refusal or a pairing code), to
 * non-admins who tried an admin command, and to admins who typed `/pair CODE`. Every refusal, pairing
 * and "busy" notice passes the `NoticeGate`; suppressed ones are counted and logged at debug. A sender
 * waiting for approval is told once it comes, whichever process (the `pair` command) approved them.
 */
import { Clock, Effect, Schedule, type Scope } from "effect"
import type { BridgeMetrics } from "../core/BridgeMetrics.js"
import { type AccessDecision, type AccessPolicy, PAIRING_CODE_TTL_MS } from "../dingtalk/AccessPolicy.js"
import type { Delivery } from "../dingtalk/Delivery.js"
import type { InboundMessage } from "../dingtalk/RobotMessage.js"
import { makeNoticeGate, type NoticeKind } from "./NoticeGate.js"

/** Senders waiting for approval whose last message this process keeps (to tell them when approved). */
const MAX_WAITING = 200

/** The replies, over the bridge's services; `notify` and `inBackground` are the bridge's own. */
export const makeAccessReplies = Effect.fnUntraced(function*(deps: {
  readonly access: AccessPolicy["Service"]
  readonly delivery: Delivery["Service"]
  readonly metrics: BridgeMetrics["Service"]
  /** Sends a text notice to a remembered conversation, in the background. */
  readonly notify: (conversationId: string, text: string) => Effect.Effect<void>
  readonly inBackground: <E>(effect: Effect.Effect<unknown, E>) => Effect.Effect<void>
}): Effect.fn.Return<AccessReplies, never, Scope.Scope> {
  const { access, delivery, metrics, notify, inBackground } = deps
  const gate = makeNoticeGate()
  // Their last message: its webhook is where the "approved" line goes (the conversation is not remembered).
  const waiting = new Map<string, InboundMessage>()

  const tellApproved = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    for (const [senderKey, message] of waiting) {
      // Their code has expired: a new message would get a new one (and wait again).
      if (now - message.receivedAt > PAIRING_CODE_TTL_MS) {
        waiting.delete(senderKey)
        continue
      }
      if (!(yield* access.isApproved(senderKey))) continue
      waiting.delete(senderKey)
      yield* delivery.replyTo(message, { text: "You are approved: send your message again and I will answer it.", format: "text" }).pipe(
        Effect.catch((error) => Effect.logWarning("Approval notice not delivered").pipe(Effect.annotateLogs({ conversationId: message.conversationId, error: error.message }))),
        inBackground
      )
    }
  })
  // Approvals can come from another process (the pair command), so this looks rather than waits to be told.
  yield* Effect.forkScoped(Effect.suspend(() => (waiting.size === 0 ? Effect.void : tellApproved)).pipe(Effect.repeat(Schedule.spaced("1 second"))))

  /** Runs `send` if the gate admits a notice of `kind` to the sender now; `why` is logged once per notice. */
  const gated = (kind: NoticeKind, message: InboundMessage, send: Effect.Effect<void>, why?: string) =>
    Effect.gen(function*() {
      if (yield* gate.admit(kind, message.senderKey)) {
        // Logged per notice, not per message: a flood stays one line per sender per window.
        if (why !== undefined) yield* Effect.logInfo(why).pipe(Effect.annotateLogs({ sender: message.senderKey, conversationId: message.conversationId }))
        return yield* send
      }
      yield* metrics.increment("noticesSuppressed")
      yield* Effect.logDebug(`${kind} notice suppressed (one per sender per window, and a small budget)`).pipe(Effect.annotateLogs({ sender: message.senderKey }))
    })

  // Their conversation is not remembered, so the notice goes to the message's own webhook.
  const noticeOutside = (message: InboundMessage, text: string, why: string) =>
    gated("access", message, delivery.replyTo(message, { text, format: "text" }).pipe(
      Effect.catch((error) => Effect.logWarning("Notice not delivered").pipe(Effect.annotateLogs({ conversationId: message.conversationId, error: error.message }))),
      inBackground
    ), why)

  /** Answers a sender the policy did not let in. */
  const refuse = (message: InboundMessage, decision: Exclude<AccessDecision, { _tag: "Allowed" }>) =>
    Effect.gen(function*() {
      const who = `${message.senderNick || message.senderKey} (${message.senderKey})`
      if (decision._tag === "Denied") {
        yield* metrics.increment("denied")
        yield* Effect.logDebug(`Denied: ${decision.reason}`).pipe(Effect.annotateLogs({ sender: message.senderKey }))
        return yield* noticeOutside(message, "Sorry, this robot is not open to you. Ask its operator to give you access.", `Denied ${who}: ${decision.reason}`)
      }
      yield* metrics.increment("pairingCodes")
      waiting.delete(message.senderKey)
      waiting.set(message.senderKey, message)
      if (waiting.size > MAX_WAITING) waiting.delete(waiting.keys().next().value!)
      const minutes = Math.max(1, Math.round((decision.expiresAt - (yield* Clock.currentTimeMillis)) / 60_000))
      return yield* noticeOutside(message, [
        `This robot answers only people its operator approved. Your pairing code is ${decision.code} (valid for ${minutes} min).`,
        `Send it to the operator; they approve it with: dingtalk-mcp-server pair ${decision.code}`,
      ].join("\n"), `Waiting for pairing: ${who}, code ${decision.code}`)
    })

  /** Answers a non-admin who tried an admin command. */
  const adminOnly = (message: InboundMessage) =>
    Effect.gen(function*() {
      yield* metrics.increment("denied")
      return yield* gated("access", message, notify(message.conversationId, "Only the robot's admins (DINGTALK_ADMINS) can do that."), `Admin command refused for ${message.senderKey}`)
    })

  /** `/pair CODE` from an admin. */
  const approvePairing = (message: InboundMessage, code: string) => {
    const conversationId = message.conversationId
    if (code.trim() === "") return notify(conversationId, "Usage: /pair CODE (the code the robot gave the person who wants access).")
    return access.approve(code, `chat:${message.senderKey}`).pipe(
      Effect.flatMap((approved) => notify(conversationId, `Approved ${approved.senderNick || approved.senderKey}: their next message will be answered.`)),
      Effect.catchTags({
        PairingCodeUnknown: (error) => notify(conversationId, error.message),
        AccessStoreFailed: (error) =>
          Effect.logError(error.message).pipe(Effect.andThen(notify(conversationId, "The approval could not be saved; the operator can see details in the logs."))),
      })
    )
  }

  return { gated, refuse, adminOnly, approvePairing }
})

/** What `makeAccessReplies` gives the bridge. */
export interface AccessReplies {
  readonly gated: (kind: NoticeKind, message: InboundMessage, send: Effect.Effect<void>, why?: string) => Effect.Effect<void>
  readonly refuse: (message: InboundMessage, decision: Exclude<AccessDecision, { _tag: "Allowed" }>) => Effect.Effect<void>
  readonly adminOnly: (message: InboundMessage) => Effect.Effect<void>
  readonly approvePairing: (message: InboundMessage, code: string) => Effect.Effect<void>
}
