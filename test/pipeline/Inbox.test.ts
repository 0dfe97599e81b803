import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import type { InboundMessage } from "../../src/dingtalk/RobotMessage.js"
import { Inbox, JOURNAL_FILE, replayJournal } from "../../src/pipeline/Inbox.js"

const message = (msgId: string) => ({
  robotCode: "r", msgId, conversationId: "cid", conversationType: "single", senderId: "s", senderKey: "s", senderNick: "",
  body: { _tag: "Text", text: "hi" }, webhook: "https://oapi.dingtalk.com/robot/sendBySession?session=x", webhookExpiresAt: 1, receivedAt: 1,
})
const add = (msgId: string, seq: number) => JSON.stringify({ op: "add", entry: { key: `r:${msgId}`, seq, message: message(msgId), text: "hi", queuedAt: 1 } })

describe("inbox journal", () => {
  it("replays adds, turns and answers leaving; done entries are gone; order is arrival order", () => {
    const text = [
      add("b", 2), add("a", 1), add("c", 3),
      JSON.stringify({ op: "turn", key: "r:a", turn: { sessionId: "ses_1", messageId: "msg_1" } }),
      JSON.stringify({ op: "sending", key: "r:a" }),
      JSON.stringify({ op: "done", key: "r:b" }),
      JSON.stringify({ op: "done", key: "r:unknown" }),
    ].join("\n")
    const { pending, unreadable } = replayJournal(`${text}\n`)
    assert.deepStrictEqual(pending.map((entry) => entry.key), ["r:a", "r:c"])
    assert.deepStrictEqual(pending[0]!.turn, { sessionId: "ses_1", messageId: "msg_1" })
    assert.isTrue(pending[0]!.sending)
    assert.isUndefined(pending[1]!.turn)
    assert.strictEqual(unreadable, 0)
  })

  it("skips a line cut off by a crash, and counts it", () => {
    const torn = add("d", 4).slice(0, 40)
    const { pending, unreadable } = replayJournal([add("c", 3), torn].join("\n"))
    assert.deepStrictEqual(pending.map((entry) => entry.key), ["r:c"])
    assert.strictEqual(unreadable, 1)
  })
  it.live("the journal holds each event once, in the order the turn went, and a restart resumes what was not done", () =>
    Effect.gen(function*() {
      const dir = path.join(mkdtempSync(path.join(tmpdir(), "inbox-")), "robot.inbox")
      const withInbox = <A>(f: (inbox: Inbox["Service"]) => Effect.Effect<A>) =>
        Effect.scoped(Layer.build(Inbox.layerPersisted(dir)).pipe(Effect.flatMap((context) => Inbox.use(f).pipe(Effect.provideContext(context)))))
      const pendingOnStart = yield* withInbox((inbox) =>
        Effect.gen(function*() {
          const answered = yield* inbox.record(message("a") as InboundMessage, "first", 1)
          yield* answered.prompting("ses_1")
          yield* answered.sending!(0)
          yield* answered.sending!(1)
          yield* answered.deliver(Effect.void)
          // Told twice (the delivery and the turn's own end): written once.
          yield* answered.delivered
          yield* inbox.record(message("b") as InboundMessage, "second", 2)
          return inbox.pending.length
        }))
      assert.strictEqual(pendingOnStart, 0)
      const ops = readFileSync(path.join(dir, JOURNAL_FILE), "utf8").trim().split("\n").map((line) => JSON.parse(line).op)
      assert.deepStrictEqual(ops, ["add", "turn", "sending", "done", "add"])
      const resumed = yield* withInbox((inbox) => Effect.succeed(inbox.pending.map((entry) => [entry.key, entry.text])))
      assert.deepStrictEqual(resumed, [["r:b", "second"]])
    }))
})
