import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import type { InboundMessage } from "../../src/dingtalk/RobotMessage.js"
import { Conversations } from "../../src/dingtalk/Conversations.js"

const message = (conversationId: string, overrides: Partial<InboundMessage> = {}): InboundMessage => ({
  robotCode: "r", msgId: `m-${conversationId}`, conversationId, conversationType: "single", conversationTitle: undefined,
  senderId: "$:s", senderKey: "staff-1", senderStaffId: "staff-1", senderNick: "Li Lei", body: { _tag: "Text", text: "hi" },
  webhook: "http://127.0.0.1:9/robot/sendBySession?session=secret", webhookExpiresAt: 1_000, receivedAt: 10, ...overrides,
})

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

  it.live("a persisted registry survives a restart, in a file only its user can read", () =>
    Effect.gen(function*() {
      const file = path.join(mkdtempSync(path.join(tmpdir(), "conversations-")), "state", "robot.conversations.json")
      yield* Effect.scoped(Effect.gen(function*() {
        const conversations = yield* Layer.build(Conversations.layerPersisted(file)).pipe(Effect.map((context) => context))
        const registry = yield* Conversations.pipe(Effect.provideContext(conversations))
        yield* registry.remember(message("cid-1"))
        yield* registry.remember(message("cid-2", { conversationType: "group", conversationTitle: "Team", senderStaffId: undefined }))
      }))
      assert.strictEqual(statSync(file).mode & 0o777, 0o600)
      const restored = yield* Effect.scoped(Effect.gen(function*() {
        const registry = yield* Conversations
        return { list: yield* registry.list, two: yield* registry.get("cid-2") }
      }).pipe(Effect.provide(Conversations.layerPersisted(file))))
      assert.deepStrictEqual(restored.list.map((c) => c.id), ["cid-2", "cid-1"])
      assert.isTrue(Option.isSome(restored.two))
      if (Option.isSome(restored.two)) {
        assert.strictEqual(restored.two.value.title, "Team")
        assert.strictEqual(restored.two.value.lastSenderStaffId, undefined)
        assert.strictEqual(restored.two.value.webhook, "http://127.0.0.1:9/robot/sendBySession?session=secret")
      }
    }))
})
