import { assert, describe, it } from "@effect/vitest"
import { replayJournal } from "../../src/pipeline/Inbox.js"

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
})
