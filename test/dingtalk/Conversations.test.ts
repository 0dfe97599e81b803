import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import type { InboundMessage } from "../../src/dingtalk/RobotMessage.js"
import { Conversations } from "../../src/dingtalk/Conversations.js"

const message = (conversationId: string, overrides: Partial<InboundMessage> = {}): InboundMessage => ({
  robotCode: "r", msgId: `m-${conversationId}`, conversationId, conversationType: "single", conversationTitle: undefined,
  senderId: "$:s", senderKey: "staff-1", senderStaffId: "staff-1", senderNick: "Li Lei", body: { _tag: "Text", text: "hi" },
  webhook: "http://127.0.0.1:9/robot/sendBySession?session=secret", webhookExpiresAt: 1_000, receivedAt: 10, ...overrides,
})

const freshDir = () => path.join(mkdtempSync(path.join(tmpdir(), "conversations-")), "state", "robot.conversations")

/** Runs `f` against a persisted registry in `dir`, released afterwards (a process lifetime). */
const withPersisted = <A>(dir: string, f: (registry: Conversations["Service"]) => Effect.Effect<A>, options: { maxConversations?: number } = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(Conversations.layerPersisted(dir, options))
    return yield* Conversations.use(f).pipe(Effect.provideContext(context))
  }))

describe("Conversations", () => {
  it.effect("the registry is most-recently-active first and keeps a group's title", () =>
    Effect.gen(function*() {
      const conversations = yield* Conversations
      yield* conversations.remember(message("a"))
      yield* conversations.remember(message("g", { conversationType: "group", conversationTitle: "Team" }))
      yield* conversations.remember(message("a"))
      yield* conversations.remember(message("g", { conversationType: "group", conversationTitle: undefined }))
      const list = yield* conversations.list
      assert.deepStrictEqual(list.map((c) => [c.id, c.messageCount, c.title]), [["g", 2, "Team"], ["a", 2, undefined]])
    }).pipe(Effect.provide(Conversations.layer)))

  it.live("a persisted registry survives a restart, in a directory and files only its user can read", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      yield* withPersisted(dir, (registry) =>
        Effect.gen(function*() {
          yield* registry.remember(message("cid-1", { receivedAt: 10 }))
          yield* registry.remember(message("cid/2", { conversationType: "group", conversationTitle: "Team", senderStaffId: undefined, receivedAt: 20 }))
        }))
      assert.strictEqual(statSync(dir).mode & 0o777, 0o700)
      const files = readdirSync(dir)
      assert.strictEqual(files.length, 2)
      for (const file of files) assert.strictEqual(statSync(path.join(dir, file)).mode & 0o777, 0o600)
      const restored = yield* withPersisted(dir, (registry) =>
        Effect.gen(function*() {
          return { list: yield* registry.list, two: yield* registry.get("cid/2") }
        }))
      assert.deepStrictEqual(restored.list.map((c) => c.id), ["cid/2", "cid-1"])
      assert.isTrue(Option.isSome(restored.two))
      if (Option.isSome(restored.two)) {
        assert.strictEqual(restored.two.value.title, "Team")
        assert.strictEqual(restored.two.value.lastSenderStaffId, undefined)
        assert.strictEqual(restored.two.value.webhook, "http://127.0.0.1:9/robot/sendBySession?session=secret")
      }
    }))

  it.live("an existing state directory open to others is tightened to 0700", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      mkdirSync(dir, { recursive: true })
      chmodSync(dir, 0o777)
      yield* withPersisted(dir, (registry) => registry.remember(message("a")))
      assert.strictEqual(statSync(dir).mode & 0o777, 0o700)
    }))

  it.live("a corrupt entry is moved aside as .corrupt, not silently replaced, and the others load", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      yield* withPersisted(dir, (registry) => Effect.all([registry.remember(message("good")), registry.remember(message("bad"))]))
      writeFileSync(path.join(dir, "bad"), "{\"id\":\"bad\",\"robotCode\":")
      const list = yield* withPersisted(dir, (registry) => registry.list)
      assert.deepStrictEqual(list.map((c) => c.id), ["good"])
      assert.isTrue(existsSync(path.join(dir, "bad.corrupt")))
      assert.strictEqual(readFileSync(path.join(dir, "bad.corrupt"), "utf8"), "{\"id\":\"bad\",\"robotCode\":")
      // The next start does not trip over the moved-aside file.
      const again = yield* withPersisted(dir, (registry) => registry.list)
      assert.deepStrictEqual(again.map((c) => c.id), ["good"])
    }))

  it.live("the cap applies on load: only the most recently active conversations are kept", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      yield* withPersisted(dir, (registry) =>
        Effect.forEach([1, 2, 3, 4, 5], (n) => registry.remember(message(`c${n}`, { receivedAt: n * 100 }))), { maxConversations: 10 })
      const list = yield* withPersisted(dir, (registry) => registry.list, { maxConversations: 3 })
      assert.deepStrictEqual(list.map((c) => c.id), ["c5", "c4", "c3"])
      assert.deepStrictEqual(readdirSync(dir).sort(), ["c3", "c4", "c5"])
    }))

  it.live("past the cap the least recently active entry is removed from disk too", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      yield* withPersisted(dir, (registry) =>
        Effect.forEach([1, 2, 3], (n) => registry.remember(message(`c${n}`, { receivedAt: n }))), { maxConversations: 2 })
      assert.deepStrictEqual(readdirSync(dir).sort(), ["c2", "c3"])
    }))

  it.live("the single JSON file of earlier versions is imported once", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      const legacy = `${dir}.json`
      mkdirSync(path.dirname(dir), { recursive: true })
      writeFileSync(legacy, JSON.stringify([{ id: "old", robotCode: "r", type: "single", lastSenderKey: "s", lastSenderNick: "n", lastActivity: 5, messageCount: 1, webhook: "http://127.0.0.1:9/x", webhookExpiresAt: 1 }]))
      const list = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Conversations.layerPersisted(dir, { legacyFile: legacy }))
        return yield* Conversations.use((r) => r.list).pipe(Effect.provideContext(context))
      }))
      assert.deepStrictEqual(list.map((c) => c.id), ["old"])
      assert.isFalse(existsSync(legacy))
      assert.isTrue(existsSync(`${legacy}.migrated`))
    }))

  it.live("an unusable state directory fails with one clear error", () =>
    Effect.gen(function*() {
      const file = path.join(mkdtempSync(path.join(tmpdir(), "conversations-")), "plain-file")
      writeFileSync(file, "x")
      const error = yield* Effect.flip(withPersisted(path.join(file, "sub"), (registry) => registry.list))
      assert.strictEqual(error._tag, "StateDirUnusable")
      assert.include(error.message, "BRIDGE_STATE_DIR")
    }))
  it.live("a steady chat is written when it changes materially, the rest on shutdown", () =>
    Effect.gen(function*() {
      const dir = freshDir()
      const webhookOf = (n: number) => `http://127.0.0.1:9/robot/sendBySession?session=s${n}`
      const fileText = () => readFileSync(path.join(dir, "cid-1"), "utf8")
      const onDisk = yield* withPersisted(dir, (registry) =>
        Effect.gen(function*() {
          // A new conversation is written at once (in the background).
          yield* registry.remember(message("cid-1", { receivedAt: 10, webhook: webhookOf(1), webhookExpiresAt: 10 + 90 * 60_000 }))
          yield* Effect.sleep("50 millis")
          const first = JSON.parse(fileText())
          // More messages with fresh webhooks while the stored one is good for an hour: kept in memory.
          for (let n = 2; n <= 5; n++) yield* registry.remember(message("cid-1", { receivedAt: n * 1_000, webhook: webhookOf(n), webhookExpiresAt: n * 1_000 + 90 * 60_000 }))
          yield* Effect.sleep("50 millis")
          const steady = JSON.parse(fileText())
          // A different sender in a 1:1 chat is where OpenAPI sends go: written at once.
          yield* registry.remember(message("cid-1", { receivedAt: 6_000, senderKey: "staff-2", senderStaffId: "staff-2", webhook: webhookOf(6), webhookExpiresAt: 6_000 + 90 * 60_000 }))
          yield* Effect.sleep("50 millis")
          const newSender = JSON.parse(fileText())
          // The stored webhook is about to expire: the fresh one is written at once.
          yield* registry.remember(message("cid-1", { receivedAt: 80 * 60_000, senderKey: "staff-2", senderStaffId: "staff-2", webhook: webhookOf(7), webhookExpiresAt: 170 * 60_000 }))
          yield* Effect.sleep("50 millis")
          const renewed = JSON.parse(fileText())
          yield* registry.remember(message("cid-1", { receivedAt: 81 * 60_000, senderKey: "staff-2", senderStaffId: "staff-2", webhook: webhookOf(8), webhookExpiresAt: 171 * 60_000 }))
          return { first, steady, newSender, renewed }
        }))
      assert.strictEqual(onDisk.first.messageCount, 1)
      assert.strictEqual(onDisk.steady.messageCount, 1)
      assert.strictEqual(onDisk.steady.webhook, webhookOf(1))
      assert.strictEqual(onDisk.newSender.lastSenderKey, "staff-2")
      assert.strictEqual(onDisk.newSender.messageCount, 6)
      assert.strictEqual(onDisk.renewed.webhook, webhookOf(7))
      // Shutdown wrote the newest state.
      const last = JSON.parse(fileText())
      assert.strictEqual(last.messageCount, 8)
      assert.strictEqual(last.webhook, webhookOf(8))
    }))
})
