import { describe, expect, it } from "vitest"
import { ascendingMessageId } from "../../src/opencode/MessageId.js"

describe("ascendingMessageId", () => {
  it("has OpenCode's shape and sorts in creation order, also within one millisecond", () => {
    const ids = [ascendingMessageId(1_795_943_119_283), ascendingMessageId(1_795_943_119_283), ascendingMessageId(1_795_943_119_284)]
    for (const id of ids) expect(id).toMatch(/^msg_[0-9a-f]{12}[0-9A-Za-z]{14}$/)
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(3)
  })

  it("matches the time prefix of IDs OpenCode made itself at that moment", () => {
    // Observed on opencode 1.18.33: an assistant message created at 1795943119283 ms had ID msg_2268d39b3001…
    expect(ascendingMessageId(1_795_943_119_283 + 1).slice(0, 14) > "msg_2268d39b3001").toBe(true)
    expect(ascendingMessageId(1_795_943_119_283 - 1).slice(0, 14) < "msg_2268d39b3001").toBe(true)
  })
})
