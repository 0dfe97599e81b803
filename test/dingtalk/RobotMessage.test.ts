import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { bodyOf, mediaOf, quoteOf, RobotMessage, toInbound } from "../../src/dingtalk/RobotMessage.js"

const message = (fields: Record<string, unknown>): RobotMessage =>
  Schema.decodeUnknownSync(RobotMessage)({
    msgId: "m1", msgtype: "text", conversationId: "cid1", conversationType: "1", senderId: "$:s", sessionWebhook: "http://127.0.0.1/hook",
    text: { content: "hello" },
    ...fields,
  })

describe("RobotMessage media", () => {
  it("pictures, files, videos and untranscribed voice carry one attachment each", () => {
    assert.deepStrictEqual(mediaOf(message({ msgtype: "picture", content: { downloadCode: "p1", pictureDownloadCode: "p2" } })), [{ kind: "picture", downloadCode: "p1" }])
    assert.deepStrictEqual(mediaOf(message({ msgtype: "picture", content: { pictureDownloadCode: "p2" } })), [{ kind: "picture", downloadCode: "p2" }])
    assert.deepStrictEqual(mediaOf(message({ msgtype: "file", content: { downloadCode: "f", fileName: "a.log", fileId: "1" } })), [{ kind: "file", downloadCode: "f", fileName: "a.log" }])
    assert.deepStrictEqual(mediaOf(message({ msgtype: "video", content: { downloadCode: "v", duration: "5", videoType: "mp4" } })), [{ kind: "video", downloadCode: "v" }])
    assert.deepStrictEqual(mediaOf(message({ msgtype: "audio", content: { downloadCode: "a" } })), [{ kind: "audio", downloadCode: "a" }])
    assert.deepStrictEqual(mediaOf(message({ msgtype: "audio", content: { downloadCode: "a", recognition: "hi" } })), [])
  })

  it("voice uses DingTalk's transcription and says so; without one the audio file is fetched", () => {
    const spoken = toInbound(message({ msgtype: "audio", text: undefined, content: { downloadCode: "a", recognition: " run it " } }), "r", 0)
    assert.deepStrictEqual(spoken.body, { _tag: "Text", text: "run it" })
    assert.isTrue(spoken.transcribed)
    assert.isUndefined(spoken.attachments)
    const unspoken = toInbound(message({ msgtype: "audio", text: undefined, content: { downloadCode: "a" } }), "r", 0)
    assert.deepStrictEqual(unspoken.body, { _tag: "Text", text: "" })
    assert.isUndefined(unspoken.transcribed)
    assert.strictEqual(unspoken.attachments?.length, 1)
  })

  it("media without a download code is malformed, with a reason", () => {
    assert.deepStrictEqual(bodyOf(message({ msgtype: "file", content: { fileName: "a.log" } })), { _tag: "Malformed", msgtype: "file", reason: "it came without a download code" })
    assert.deepStrictEqual(bodyOf(message({ msgtype: "audio", content: {} })), { _tag: "Malformed", msgtype: "audio", reason: "it has neither DingTalk's transcription nor a download code" })
    assert.strictEqual(bodyOf(message({ msgtype: "richText", content: { richText: [{ text: "x" }, { type: "picture" }] } }))._tag, "Malformed")
    assert.deepStrictEqual(bodyOf(message({ msgtype: "unknownMsgType", content: { unknownMsgType: "?" } })), { _tag: "Unsupported", msgtype: "unknownMsgType" })
  })

  it("a quoted reply gives the quoted text, or a note of its type", () => {
    const quoted = (repliedMsg: unknown) => quoteOf(message({ text: { content: "why?", isReplyMsg: true, repliedMsg } }))
    assert.deepStrictEqual(quoted({ msgType: "text", content: { text: "build failed" } }), { msgtype: "text", text: "build failed" })
    assert.deepStrictEqual(quoted({ msgType: "file", content: { downloadCode: "x", fileName: "out.log" } }), { msgtype: "file", text: "[a file: out.log]" })
    assert.deepStrictEqual(quoted({ msgType: "picture", content: { downloadCode: "x" } }), { msgtype: "picture", text: "[a picture message]" })
    assert.deepStrictEqual(quoted({ msgType: "richText", content: { richText: [{ text: "see " }, { type: "picture", downloadCode: "x" }] } }), { msgtype: "richText", text: "see [picture]" })
    assert.strictEqual(quoted({ msgType: "text", content: { text: "x".repeat(5_000) } })?.text.length, 4_001)
    assert.isUndefined(quoteOf(message({ text: { content: "plain" } })))
    // In rich text the reply fields sit in `content`.
    const rich = message({ msgtype: "richText", text: undefined, content: { richText: [{ text: "and?" }], isReplyMsg: true, repliedMsg: { msgType: "text", content: { text: "earlier" } } } })
    assert.deepStrictEqual(toInbound(rich, "r", 0).quote, { msgtype: "text", text: "earlier" })
    // A quoted picture is also fetched, when DingTalk gives its download code.
    const picture = toInbound(message({ text: { content: "what is this?", isReplyMsg: true, repliedMsg: { msgType: "picture", content: { downloadCode: "q1" } } } }), "r", 0)
    assert.deepStrictEqual(picture.attachments, [{ kind: "picture", downloadCode: "q1", quoted: true }])
    assert.isUndefined(toInbound(message({ text: { content: "x", isReplyMsg: true, repliedMsg: { msgType: "picture", content: {} } } }), "r", 0).attachments)
  })
})
