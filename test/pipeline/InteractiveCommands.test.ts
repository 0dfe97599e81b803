import { describe, expect, it } from "vitest"
import { parseInteractive, parseQuestionAnswer } from "../../src/pipeline/InteractiveCommands.js"

describe("parseInteractive", () => {
  it("reads permission answers with and without a number and a reason", () => {
    expect(parseInteractive("/allow")).toEqual({ _tag: "Allow", reply: "once", number: undefined })
    expect(parseInteractive("/always 2")).toEqual({ _tag: "Allow", reply: "always", number: 2 })
    expect(parseInteractive("/deny because it is Friday")).toEqual({ _tag: "Deny", number: undefined, reason: "because it is Friday" })
    expect(parseInteractive("/deny 3 not now")).toEqual({ _tag: "Deny", number: 3, reason: "not now" })
    expect(parseInteractive("/DENY")).toEqual({ _tag: "Deny", number: undefined, reason: undefined })
    expect(parseInteractive("/skip 1")).toEqual({ _tag: "Skip", number: 1 })
  })

  it("reads session, model and agent commands", () => {
    expect(parseInteractive("/sessions")).toEqual({ _tag: "Sessions" })
    expect(parseInteractive("/session 2")).toEqual({ _tag: "Session", number: 2 })
    expect(parseInteractive("/model")).toEqual({ _tag: "Model", model: undefined })
    expect(parseInteractive("/model anthropic/claude-sonnet-4")).toEqual({ _tag: "Model", model: "anthropic/claude-sonnet-4" })
    expect(parseInteractive("/agent plan")).toEqual({ _tag: "Agent", agent: "plan" })
  })

  it("leaves everything else to the prompt or the other commands", () => {
    expect(parseInteractive("allow it")).toBeUndefined()
    expect(parseInteractive("/allow everything please")).toBeUndefined()
    expect(parseInteractive("/session two")).toBeUndefined()
    expect(parseInteractive("/model a b")).toBeUndefined()
    expect(parseInteractive("/status")).toBeUndefined()
  })
})

describe("parseQuestionAnswer", () => {
  const options = [{ label: "Red" }, { label: "Green" }, { label: "Blue" }]

  it("numbers pick options; several only for multiple choice", () => {
    expect(parseQuestionAnswer("2", { options })).toEqual({ _tag: "Answer", labels: ["Green"] })
    expect(parseQuestionAnswer("1, 3", { options, multiple: true })).toEqual({ _tag: "Answer", labels: ["Red", "Blue"] })
    expect(parseQuestionAnswer("1 3", { options })._tag).toBe("Invalid")
    expect(parseQuestionAnswer("4", { options })).toEqual({ _tag: "Invalid", why: "There is no option 4; answer with a number from 1 to 3." })
  })

  it("anything else is a free-text answer, unless the question forbids it", () => {
    expect(parseQuestionAnswer("  teal please ", { options })).toEqual({ _tag: "Answer", labels: ["teal please"] })
    expect(parseQuestionAnswer("teal", { options, custom: false })._tag).toBe("Invalid")
    expect(parseQuestionAnswer("42", {})).toEqual({ _tag: "Answer", labels: ["42"] })
  })
})
