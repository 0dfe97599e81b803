import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, References } from "effect"
import { TestClock } from "effect/testing"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { AccessPolicy, accessFileFor, approveIn, PairingCodeUnknown } from "../../src/dingtalk/AccessPolicy.js"
import { fileAccessStore } from "../../src/dingtalk/AccessStore.js"
import type { InboundMessage } from "../../src/dingtalk/RobotMessage.js"

const message = (senderKey: string, overrides: Partial<InboundMessage> = {}): InboundMessage => ({
  robotCode: "r", msgId: `m-${senderKey}`, conversationId: `cid-${senderKey}`, conversationType: "single", conversationTitle: undefined,
  senderId: `$:${senderKey}`, senderKey, senderStaffId: senderKey, senderNick: `Nick ${senderKey}`, body: { _tag: "Text", text: "hi" },
  webhook: "http://127.0.0.1:9/hook", webhookExpiresAt: 1_000, receivedAt: 10, ...overrides,
})

const Quiet = Layer.mergeAll(Logger.layer([]), Layer.succeed(References.MinimumLogLevel, "None"))
const policyLayer = (env: Record<string, string> = {}, access = AccessPolicy.layer) =>
  access.pipe(Layer.provide(BridgeConfig.layerFrom({ DINGTALK_CLIENT_ID: "robot", DINGTALK_CLIENT_SECRET: "s", ...env })), Layer.provideMerge(Quiet))

const decide = (m: InboundMessage) => AccessPolicy.use((p) => p.decide(m))

describe("AccessPolicy", () => {
  it.effect("pairing is the default: an unknown sender gets a 6-character code, the same one until it expires after an hour", () =>
    Effect.gen(function*() {
      const first = yield* decide(message("stranger"))
      assert.strictEqual(first._tag, "Pairing")
      if (first._tag !== "Pairing") return
      assert.match(first.code, /^[A-HJ-NP-Z2-9]{6}$/)
      assert.deepStrictEqual(yield* decide(message("stranger")), first)
      const other = yield* decide(message("another"))
      assert.isTrue(other._tag === "Pairing" && other.code !== first.code)
      assert.deepStrictEqual((yield* AccessPolicy.use((p) => p.pending)).map((p) => p.senderKey), ["stranger", "another"])

      yield* TestClock.adjust("61 minutes")
      const renewed = yield* decide(message("stranger"))
      assert.isTrue(renewed._tag === "Pairing" && renewed.code !== first.code)
      const expired = yield* AccessPolicy.use((p) => p.approve(first.code, "test")).pipe(Effect.flip)
      assert.instanceOf(expired, PairingCodeUnknown)
      assert.match(expired.message, /Unknown or expired pairing code/)
    }).pipe(Effect.provide(policyLayer())))

  it.effect("an approved code lets its sender in (typed in any case, with dashes), and only that sender", () =>
    Effect.gen(function*() {
      const pairing = yield* decide(message("li"))
      assert.strictEqual(pairing._tag, "Pairing")
      if (pairing._tag !== "Pairing") return
      const typed = `${pairing.code.slice(0, 3).toLowerCase()}-${pairing.code.slice(3)}`
      const approved = yield* AccessPolicy.use((p) => p.approve(typed, "test"))
      assert.strictEqual(approved.senderKey, "li")
      assert.deepStrictEqual(yield* decide(message("li", { conversationId: "cid-other-chat" })), { _tag: "Allowed", admin: false })
      assert.strictEqual((yield* decide(message("mei")))._tag, "Pairing")
      assert.deepStrictEqual((yield* AccessPolicy.use((p) => p.pending)).map((p) => p.senderKey), ["mei"])
      // A used code is gone.
      assert.instanceOf(yield* AccessPolicy.use((p) => p.approve(pairing.code, "test")).pipe(Effect.flip), PairingCodeUnknown)
    }).pipe(Effect.provide(policyLayer())))

  it.effect("in pairing mode the allowlists and the admins pass without a code; a conversation list is a hard limit", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* decide(message("boss", { conversationId: "cid-team" })), { _tag: "Allowed", admin: false })
      assert.deepStrictEqual(yield* decide(message("root")), { _tag: "Allowed", admin: true })
      assert.strictEqual((yield* decide(message("stranger", { conversationId: "cid-team" })))._tag, "Pairing")
      assert.strictEqual((yield* decide(message("stranger", { conversationId: "cid-elsewhere" })))._tag, "Denied")
      assert.strictEqual((yield* decide(message("boss", { conversationId: "cid-elsewhere" })))._tag, "Denied")
      assert.deepStrictEqual(yield* decide(message("root", { conversationId: "cid-elsewhere" })), { _tag: "Allowed", admin: true })
    }).pipe(Effect.provide(policyLayer({ DINGTALK_ALLOWED_USERS: "boss", DINGTALK_ALLOWED_CONVERSATIONS: "cid-team", DINGTALK_ADMINS: "root" }))))

  it.effect("allowlist mode: only the lists and the admins, never a code; with empty lists only the admins", () =>
    Effect.gen(function*() {
      const lists = policyLayer({ DINGTALK_ACCESS: "allowlist", DINGTALK_ALLOWED_USERS: "boss" })
      assert.strictEqual((yield* decide(message("boss")).pipe(Effect.provide(lists)))._tag, "Allowed")
      assert.strictEqual((yield* decide(message("stranger")).pipe(Effect.provide(lists)))._tag, "Denied")
      const empty = policyLayer({ DINGTALK_ACCESS: "allowlist", DINGTALK_ADMINS: "root" })
      assert.strictEqual((yield* decide(message("boss")).pipe(Effect.provide(empty)))._tag, "Denied")
      assert.deepStrictEqual(yield* decide(message("root")).pipe(Effect.provide(empty)), { _tag: "Allowed", admin: true })
      // The sender ID works as well as the staff ID.
      const byId = policyLayer({ DINGTALK_ACCESS: "allowlist", DINGTALK_ALLOWED_USERS: "$:outsider" })
      assert.strictEqual((yield* decide(message("x", { senderId: "$:outsider", senderKey: "$:outsider", senderStaffId: undefined })).pipe(Effect.provide(byId)))._tag, "Allowed")
    }))

  it.effect("open mode lets anyone in unless a list narrows it", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* decide(message("anyone")).pipe(Effect.provide(policyLayer({ DINGTALK_ACCESS: "open" }))))._tag, "Allowed")
      const narrowed = policyLayer({ DINGTALK_ACCESS: "open", DINGTALK_ALLOWED_CONVERSATIONS: "cid-boss" })
      assert.strictEqual((yield* decide(message("anyone")).pipe(Effect.provide(narrowed)))._tag, "Denied")
      assert.strictEqual((yield* decide(message("boss")).pipe(Effect.provide(narrowed)))._tag, "Allowed")
    }))

  it.live("pairings live in a 0600 file in a 0700 dir; an approval by another process (the pair command) is seen at the next message", () =>
    Effect.gen(function*() {
      const stateDir = path.join(mkdtempSync(path.join(tmpdir(), "access-")), "state")
      const file = accessFileFor(stateDir, "robot")
      const owner = policyLayer({}, AccessPolicy.layerPersisted(file))
      const pairing = yield* decide(message("li")).pipe(Effect.provide(owner))
      assert.strictEqual(pairing._tag, "Pairing")
      if (pairing._tag !== "Pairing") return
      assert.strictEqual(statSync(file).mode & 0o777, 0o600)
      assert.strictEqual(statSync(stateDir).mode & 0o777, 0o700)
      assert.include(readFileSync(file, "utf8"), pairing.code)

      yield* Effect.gen(function*() {
        assert.strictEqual((yield* decide(message("li")))._tag, "Pairing")
        // Another process approves through its own store over the same file.
        const approved = yield* approveIn(fileAccessStore(file), pairing.code, "cli")
        assert.strictEqual(approved.senderKey, "li")
        assert.deepStrictEqual(yield* decide(message("li")), { _tag: "Allowed", admin: false })
      }).pipe(Effect.provide(owner))
      // A restarted owner still knows the approval; no lock file is left behind.
      assert.deepStrictEqual(yield* decide(message("li")).pipe(Effect.provide(owner)), { _tag: "Allowed", admin: false })
      assert.deepStrictEqual(readdirSync(stateDir).sort(), ["robot.access.json"])
    }))

  it.live("a corrupt pairing file is moved aside and nobody gets in by it", () =>
    Effect.gen(function*() {
      const stateDir = mkdtempSync(path.join(tmpdir(), "access-"))
      const file = accessFileFor(stateDir, "robot")
      mkdirSync(stateDir, { recursive: true })
      writeFileSync(file, "{\"approved\": [{\"senderKey\": \"li\"")
      const pairing = yield* decide(message("li")).pipe(Effect.provide(policyLayer({}, AccessPolicy.layerPersisted(file))))
      assert.strictEqual(pairing._tag, "Pairing")
      assert.deepStrictEqual(readdirSync(stateDir).sort(), ["robot.access.json", "robot.access.json.corrupt"])
    }))
})

describe("AccessStore file", () => {
  it.live("a lock left by a dead process is taken over once stale", () =>
    Effect.gen(function*() {
      const stateDir = mkdtempSync(path.join(tmpdir(), "access-"))
      const file = accessFileFor(stateDir, "robot")
      writeFileSync(`${file}.lock`, "")
      const old = new Date(Date.now() - 60_000)
      utimesSync(`${file}.lock`, old, old)
      const pairing = yield* decide(message("li")).pipe(Effect.provide(policyLayer({}, AccessPolicy.layerPersisted(file))))
      assert.strictEqual(pairing._tag, "Pairing")
      assert.deepStrictEqual(readdirSync(stateDir).sort(), ["robot.access.json"])
    }))
})
