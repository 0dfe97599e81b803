import { describe, expect, it } from "vitest"
import { decodeCardClick } from "../../src/dingtalk/ActionCards.js"

const payload = (privateData: unknown, extra: Record<string, unknown> = {}) => {
  const inner = JSON.stringify(privateData)
  return JSON.stringify({
    extension: "{}", corpId: "ding123", spaceType: "", userIdType: 1, type: "actionCallback",
    userId: "04574258341072934", outTrackId: "ask_per_1", spaceId: "", content: inner, value: inner, ...extra,
  })
}

describe("decodeCardClick", () => {
  it("reads the clicker, the card, the button and its string params from the JSON-in-JSON payload", () => {
    const click = decodeCardClick(payload({ cardPrivateData: { actionIds: ["once"], params: { requestId: "per_1", sessionId: "ses_1", n: 3 } } }))
    expect(click).toEqual({ outTrackId: "ask_per_1", userId: "04574258341072934", actionId: "once", params: { requestId: "per_1", sessionId: "ses_1" } })
  })

  it("takes the action from params.action when the button has no action ID (DingTalk's approval sample)", () => {
    const click = decodeCardClick(payload({ cardPrivateData: { actionIds: [], params: { action: "reject" } } }))
    expect(click?.actionId).toBe("reject")
  })

  it("falls back to `content` when `value` is not JSON, and refuses what is not a callback", () => {
    const raw = JSON.parse(payload({ cardPrivateData: { actionIds: ["skip"], params: {} } }))
    expect(decodeCardClick(JSON.stringify({ ...raw, value: "not json" }))?.actionId).toBe("skip")
    expect(decodeCardClick("{\"msgId\":\"robot message\"}")).toBeUndefined()
    expect(decodeCardClick(42)).toBeUndefined()
  })
})
