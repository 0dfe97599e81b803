import { assert, describe, it } from "@effect/vitest"
import { LiveTurnState, stepDetail, stepText } from "../../src/opencode/LiveTurnState.js"
import type { OpenCodeEvent } from "../../src/opencode/OpenCodeEvents.js"

const S = "ses_1"
const USER = "msg_user"

const user = (id = USER): OpenCodeEvent => ({ type: "message.updated", properties: { info: { id, sessionID: S, role: "user" } } })
const assistant = (id: string, parentID = USER, error?: { name: string }): OpenCodeEvent => ({
  type: "message.updated",
  properties: { info: { id, sessionID: S, role: "assistant", parentID, ...(error === undefined ? {} : { error }) } },
})
const part = (messageID: string, id: string, type: string, extra: Record<string, unknown> = {}): OpenCodeEvent => ({
  type: "message.part.updated",
  properties: { part: { id, sessionID: S, messageID, type, ...extra } },
})
const delta = (messageID: string, partID: string, text: string): OpenCodeEvent => ({
  type: "message.part.delta",
  properties: { sessionID: S, messageID, partID, field: "text", delta: text },
})
const idle: OpenCodeEvent = { type: "session.idle", properties: { sessionID: S } }

const apply = (state: LiveTurnState, events: ReadonlyArray<OpenCodeEvent>) => events.forEach((event, i) => state.apply(event, i))

describe("LiveTurnState", () => {
  it("collects the text of every step of a tool turn, keyed by part, and ends at idle", () => {
    const state = new LiveTurnState(S, USER)
    apply(state, [
      idle, // a previous turn's trailing idle: not ours
      user(),
      assistant("msg_a1"),
      part("msg_a1", "prt_r", "reasoning", { text: "" }),
      delta("msg_a1", "prt_r", "thinking…"),
      part("msg_a1", "prt_t1", "text", { text: "" }),
      delta("msg_a1", "prt_t1", "Let me "),
      delta("msg_a1", "prt_t1", "check."),
      part("msg_a1", "prt_tool", "tool", { tool: "bash", state: { status: "running", input: { command: "npm test" } } }),
    ])
    assert.isFalse(state.finished)
    assert.strictEqual(state.text(), "Let me check.")
    assert.strictEqual(stepText(state.step!), "⏳ bash: npm test")
    apply(state, [
      part("msg_a1", "prt_tool", "tool", { tool: "bash", state: { status: "completed", input: { command: "npm test" } } }),
      assistant("msg_a2"),
      part("msg_a2", "prt_t2", "text", { text: "" }),
      delta("msg_a2", "prt_t2", "All green."),
      // Another turn's assistant message (a different parent) is not ours.
      assistant("msg_x", "msg_other"),
      part("msg_x", "prt_x", "text", { text: "foreign" }),
      idle,
    ])
    assert.strictEqual(stepText(state.step!), "✅ bash: npm test")
    assert.strictEqual(state.text(), "Let me check.\n\nAll green.")
    assert.isTrue(state.finished)
    assert.isFalse(state.aborted)
  })

  it("after an abort waits for the second idle, which brings the partial text", () => {
    const state = new LiveTurnState(S, USER)
    apply(state, [
      user(),
      assistant("msg_a"),
      part("msg_a", "prt_t", "text", { text: "" }),
      delta("msg_a", "prt_t", "ECH"),
      { type: "session.error", properties: { sessionID: S, error: { name: "MessageAbortedError", data: { message: "Aborted" } } } },
      idle,
    ])
    assert.isTrue(state.aborted)
    assert.isFalse(state.finished)
    apply(state, [part("msg_a", "prt_t", "text", { text: "ECHO" }), assistant("msg_a", USER, { name: "MessageAbortedError" }), idle])
    assert.isTrue(state.finished)
    assert.strictEqual(state.text(), "ECHO")
    assert.isUndefined(state.error)
  })

  it("records a model error, and rebuilds from history after a gap in the stream", () => {
    const failed = new LiveTurnState(S, USER)
    apply(failed, [user(), assistant("msg_a", USER, { name: "ProviderAuthError" }), idle])
    assert.strictEqual(failed.error?.name, "ProviderAuthError")

    const state = new LiveTurnState(S, USER)
    state.resync([
      { info: { id: "msg_old", role: "assistant", parentID: "msg_prev" }, parts: [{ type: "text", text: "old answer" }] },
      { info: { id: USER, role: "user" }, parts: [{ type: "text", text: "question" }] },
      { info: { id: "msg_a", role: "assistant", parentID: USER }, parts: [{ id: "prt_1", type: "text", text: "new answer" }] },
    ], false, 0)
    assert.isTrue(state.finished)
    assert.strictEqual(state.text(), "new answer")
  })

  it("names what a tool runs", () => {
    assert.strictEqual(stepDetail({ command: "npm   test\n--watch" }, undefined), "npm test --watch")
    assert.strictEqual(stepDetail({ filePath: "/src/a.ts" }, "Read"), "/src/a.ts")
    assert.strictEqual(stepDetail({}, "Some title"), "Some title")
    assert.strictEqual(stepDetail({ command: "x".repeat(200) }, undefined).length, 80)
  })
})
