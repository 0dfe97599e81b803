/**
 * Who may drive the agent from DingTalk (`DINGTALK_ACCESS`): `pairing` (the default) lets in the
 * allowlists, the admins and the senders the operator approved, and hands everyone else a one-time
 * code; `allowlist` lets in only the lists and the admins; `open` lets in anyone.
 */
import { Clock, Context, Effect, Layer, Schema } from "effect"
import { randomInt } from "node:crypto"
import { BridgeConfig, type BridgeSettings } from "../core/BridgeConfig.js"
import { statePathFor } from "../core/StateDir.js"
import {
  type AccessState, type AccessStore, type AccessStoreFailed, type ApprovedSender, fileAccessStore, memoryAccessStore, type PendingPairing,
} from "./AccessStore.js"
import type { InboundMessage } from "./RobotMessage.js"

/** No 0/O or 1/I: codes are read aloud and retyped. */
const CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
const CODE_LENGTH = 6
/** How long a pairing code stays valid. */
export const PAIRING_CODE_TTL_MS = 60 * 60_000
/** Oldest codes go first beyond this (a flood of new senders cannot grow the file). */
const MAX_PENDING = 200
const MAX_APPROVED = 5_000

/** What the policy says about a message's sender. */
export type AccessDecision =
  | { readonly _tag: "Allowed"; readonly admin: boolean }
  | { readonly _tag: "Denied"; readonly reason: string }
  | { readonly _tag: "Pairing"; readonly code: string; readonly expiresAt: number }

/** The access mode. */
export type AccessMode = BridgeSettings["access"]["mode"]

/** The code is not (or no longer) waiting for approval. */
export class PairingCodeUnknown extends Schema.TaggedError<PairingCodeUnknown>()("PairingCodeUnknown", { code: Schema.String }) {
  override get message() {
    return `Unknown or expired pairing code "${this.code}". Codes are valid for 1 hour: ask the sender to write to the robot again for a new one.`
  }
}

/** The file that keeps a robot's pairings. */
export const accessFileFor = (stateDir: string, clientId: string): string => statePathFor(stateDir, clientId, ".access.json")

/** A fresh code, e.g. `K7QX2M`, from the crypto RNG. */
export const newPairingCode = (): string => Array.from({ length: CODE_LENGTH }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join("")

/** How a person may type a code: any case, spaces or dashes. */
export const normalizeCode = (raw: string): string => raw.toUpperCase().replace(/[^A-Z0-9]/g, "")

/** Approves `code` in `store` (the pairing CLI and the owning process share this). */
export const approveIn = (store: AccessStore, rawCode: string, approvedBy: string): Effect.Effect<ApprovedSender, PairingCodeUnknown | AccessStoreFailed> =>
  Effect.gen(function*() {
    const code = normalizeCode(rawCode)
    const now = yield* Clock.currentTimeMillis
    const approved = yield* store.update((state): readonly [ApprovedSender | undefined, AccessState] => {
      const pending = state.pending.find((p) => p.code === code && p.expiresAt > now)
      if (pending === undefined) return [undefined, state]
      const sender: ApprovedSender = { senderKey: pending.senderKey, senderId: pending.senderId, senderNick: pending.senderNick, approvedAt: now, approvedBy }
      const others = state.approved.filter((a) => a.senderKey !== sender.senderKey)
      return [sender, {
        approved: [...others, sender].slice(-MAX_APPROVED),
        pending: state.pending.filter((p) => p.senderKey !== pending.senderKey && p.expiresAt > now),
      }]
    })
    if (approved === undefined) return yield* new PairingCodeUnknown({ code: rawCode.trim() })
    return approved
  })

/** The IDs a list entry may name for this sender: staff ID, or the DingTalk sender ID. */
const idsOf = (message: InboundMessage): ReadonlyArray<string> =>
  [message.senderKey, message.senderId, ...(message.senderStaffId === undefined ? [] : [message.senderStaffId])]

/** The access policy of this robot. */
export class AccessPolicy extends Context.Service<AccessPolicy, {
  readonly mode: AccessMode
  /** Whether the sender of `message` may reach OpenCode; in `pairing`, an unknown sender gets (the same) code. */
  readonly decide: (message: InboundMessage) => Effect.Effect<AccessDecision>
  /** Approves a pending code; `approvedBy` is recorded (`cli`, `mcp`, `chat:<admin>`). */
  readonly approve: (code: string, approvedBy: string) => Effect.Effect<ApprovedSender, PairingCodeUnknown | AccessStoreFailed>
  /** Codes waiting for approval, oldest first. */
  readonly pending: Effect.Effect<ReadonlyArray<PendingPairing>>
  /** How many senders were approved by pairing. */
  readonly approvedCount: Effect.Effect<number>
  /** Whether this sender was approved by pairing (by any process). */
  readonly isApproved: (senderKey: string) => Effect.Effect<boolean>
}>()("dingtalk-mcp-server/AccessPolicy") {
  /** The policy over a given store. */
  static readonly layerWith = (store: AccessStore) => Layer.effect(AccessPolicy, make(store))
  /** Pairings kept in memory (tests, embedders, the sandbox). */
  static readonly layer = Layer.effect(AccessPolicy, Effect.suspend(() => make(memoryAccessStore())))
  /** Pairings kept in `file`, where `dingtalk-mcp-server pair` approves them too. */
  static readonly layerPersisted = (file: string) => Layer.effect(AccessPolicy, Effect.suspend(() => make(fileAccessStore(file))))
}

const make = Effect.fnUntraced(function*(store: AccessStore) {
  const settings = yield* BridgeConfig
  const { mode, allowedUsers, allowedConversations, admins } = settings.access
  yield* announce(settings.access)

  const isAdmin = (ids: ReadonlyArray<string>) => ids.some((id) => admins.includes(id))
  const userListed = (ids: ReadonlyArray<string>) => ids.some((id) => allowedUsers.includes(id))
  const conversationListed = (conversationId: string) => allowedConversations.includes(conversationId)
  const hasLists = allowedUsers.length > 0 || allowedConversations.length > 0

  /** The lists as they always worked: each list that is set must match. */
  const listsAdmit = (message: InboundMessage, ids: ReadonlyArray<string>) =>
    hasLists && (allowedUsers.length === 0 || userListed(ids)) && (allowedConversations.length === 0 || conversationListed(message.conversationId))

  const pairingCodeFor = (message: InboundMessage) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const known = (yield* store.read).pending.find((p) => p.senderKey === message.senderKey && p.expiresAt > now)
      if (known !== undefined) return { _tag: "Pairing", code: known.code, expiresAt: known.expiresAt } as const
      const issued = yield* store.update((state): readonly [PendingPairing, AccessState] => {
        const live = state.pending.filter((p) => p.expiresAt > now)
        const again = live.find((p) => p.senderKey === message.senderKey)
        if (again !== undefined) return [again, { ...state, pending: live }]
        const taken = new Set(live.map((p) => p.code))
        let code = newPairingCode()
        while (taken.has(code)) code = newPairingCode()
        const pending: PendingPairing = {
          code, senderKey: message.senderKey, senderId: message.senderId, senderNick: message.senderNick,
          conversationId: message.conversationId, conversationType: message.conversationType,
          createdAt: now, expiresAt: now + PAIRING_CODE_TTL_MS,
        }
        return [pending, { ...state, pending: [...live, pending].slice(-MAX_PENDING) }]
      })
      yield* Effect.logInfo(`Pairing code ${issued.code} issued to ${message.senderNick || message.senderKey} (${message.senderKey}); approve it with "dingtalk-mcp-server pair ${issued.code}"`)
      return { _tag: "Pairing", code: issued.code, expiresAt: issued.expiresAt } as const
    }).pipe(
      Effect.catchTag("AccessStoreFailed", (error) =>
        Effect.logError(`No pairing code issued: ${error.message}`).pipe(Effect.as({ _tag: "Denied", reason: "the pairing file cannot be written" } as const)))
    )

  const decide = Effect.fn("AccessPolicy.decide")(function*(message: InboundMessage) {
    const ids = idsOf(message)
    if (isAdmin(ids)) return { _tag: "Allowed", admin: true } as AccessDecision
    const allowed: AccessDecision = { _tag: "Allowed", admin: false }
    switch (mode) {
      case "open":
        // Lists still narrow an open robot, as they did before access modes existed.
        if (!hasLists || listsAdmit(message, ids)) return allowed
        return { _tag: "Denied", reason: "not in DINGTALK_ALLOWED_USERS / DINGTALK_ALLOWED_CONVERSATIONS" } as AccessDecision
      case "allowlist":
        if (listsAdmit(message, ids)) return allowed
        return { _tag: "Denied", reason: hasLists ? "not in DINGTALK_ALLOWED_USERS / DINGTALK_ALLOWED_CONVERSATIONS" : "DINGTALK_ACCESS=allowlist and both lists are empty" } as AccessDecision
      case "pairing": {
        // A conversation list is a hard limit: outside it nobody pairs.
        if (allowedConversations.length > 0 && !conversationListed(message.conversationId)) {
          return { _tag: "Denied", reason: "conversation not in DINGTALK_ALLOWED_CONVERSATIONS" } as AccessDecision
        }
        if (listsAdmit(message, ids)) return allowed
        const state = yield* store.read
        if (state.approved.some((a) => ids.includes(a.senderKey) || ids.includes(a.senderId))) return allowed
        return yield* pairingCodeFor(message)
      }
    }
  })

  const pending = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    return (yield* store.read).pending.filter((p) => p.expiresAt > now)
  })

  return AccessPolicy.of({
    mode,
    decide,
    approve: Effect.fn("AccessPolicy.approve")(function*(code: string, approvedBy: string) {
      const approved = yield* approveIn(store, code, approvedBy)
      yield* Effect.logInfo(`Pairing approved for ${approved.senderNick || approved.senderKey} (${approved.senderKey}) by ${approvedBy}`)
      return approved
    }),
    pending,
    approvedCount: Effect.map(store.read, (state) => state.approved.length),
    isApproved: (senderKey) => Effect.map(store.read, (state) => state.approved.some((a) => a.senderKey === senderKey)),
  })
})

/** One start-up line that says who can reach the agent. */
const announce = (access: BridgeSettings["access"]) => {
  const lists = access.allowedUsers.length > 0 || access.allowedConversations.length > 0
  const admins = access.admins.length > 0 ? `; admins: ${access.admins.join(", ")}` : "; no DINGTALK_ADMINS"
  switch (access.mode) {
    case "open":
      return lists
        ? Effect.logWarning(`DINGTALK_ACCESS=open with allowlists: only DINGTALK_ALLOWED_USERS / DINGTALK_ALLOWED_CONVERSATIONS${admins}`)
        : Effect.logWarning("DINGTALK_ACCESS=open: ANYONE who can message this robot can drive OpenCode (run commands on this machine). Use pairing or an allowlist unless that is intended.")
    case "allowlist":
      return lists
        ? Effect.logInfo(`Access: allowlist (DINGTALK_ALLOWED_USERS / DINGTALK_ALLOWED_CONVERSATIONS)${admins}`)
        : Effect.logWarning(`DINGTALK_ACCESS=allowlist but DINGTALK_ALLOWED_USERS and DINGTALK_ALLOWED_CONVERSATIONS are empty: nobody but the admins can use the robot${admins}`)
    case "pairing":
      return Effect.logInfo(`Access: pairing. Unknown senders get a one-time code; approve it with "dingtalk-mcp-server pair CODE"${admins}`)
  }
}
