import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type DingTalkEmulator, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"

let emulator: DingTalkEmulator
let token: string

const call = async (method: "POST" | "PUT", path: string, body: unknown, accessToken = token) => {
  const response = await fetch(`${emulator.url}${path}`, {
    method,
    headers: { "content-type": "application/json", "x-acs-dingtalk-access-token": accessToken },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: await response.json() as any }
}

const createBody = (outTrackId: string, openSpaceId: string, extra: Record<string, unknown> = {}) => ({
  cardTemplateId: "tpl.schema",
  outTrackId,
  cardData: { cardParamMap: { msgContent: "", flowStatus: "2" } },
  callbackType: "STREAM",
  openSpaceId,
  ...(openSpaceId.includes("IM_GROUP")
    ? { imGroupOpenDeliverModel: { robotCode: emulator.robotCode } }
    : { imRobotOpenDeliverModel: { spaceType: "IM_ROBOT", robotCode: emulator.robotCode } }),
  ...extra,
})

const stream = (outTrackId: string, content: string, isFinalize = false) =>
  call("PUT", "/v1.0/card/streaming", { outTrackId, guid: crypto.randomUUID(), key: "msgContent", content, isFull: true, isFinalize, isError: false })

beforeEach(async () => {
  emulator = await startDingTalkEmulator()
  const answer = await fetch(`${emulator.url}/v1.0/oauth2/accessToken`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ appKey: emulator.clientId, appSecret: emulator.clientSecret }),
  })
  token = (await answer.json() as { accessToken: string }).accessToken
  // The emulator knows a 1:1 chat with staff-1 and a group once they have written to the robot.
  emulator.pushMessage({ conversationId: "cid-one", senderStaffId: "staff-1" })
  emulator.pushMessage({ conversationId: "cid-group", conversationType: "2" })
})

afterEach(() => emulator.close())

describe("DingTalk emulator: AI cards", () => {
  it("records a card's life: create in a known space, full-text updates, finalize, finished status", async () => {
    expect((await call("POST", "/v1.0/card/instances/createAndDeliver", createBody("card_1", "dtv1.card//IM_ROBOT.staff-1"))).body.result.deliverResults[0].success).toBe(true)
    expect((await stream("card_1", "Hel")).status).toBe(200)
    expect((await stream("card_1", "Hello")).status).toBe(200)
    expect((await stream("card_1", "Hello world", true)).status).toBe(200)
    // Streaming after the finalize is refused.
    expect((await stream("card_1", "late")).status).toBe(400)
    const finished = emulator.waitForCardFinished("card_1", 2_000)
    await call("PUT", "/v1.0/card/instances", { outTrackId: "card_1", cardData: { cardParamMap: { flowStatus: "3" } }, cardUpdateOptions: { updateCardDataByKey: true } })
    const card = await finished
    expect(card.conversationId).toBe("cid-one")
    expect(card.text).toBe("Hello world")
    expect(card.variables.msgContent).toBe("Hello world")
    expect(card.calls.map((c) => c.kind)).toEqual(["create", "streaming", "streaming", "streaming", "instances"])
    expect(emulator.cardsFor("cid-one")).toHaveLength(1)
    expect(emulator.cardCalls.filter((c) => c.status !== 200)).toHaveLength(1)
  })

  it("validates what DingTalk checks: token, space, deliver model, string params, unique outTrackId", async () => {
    expect((await call("POST", "/v1.0/card/instances/createAndDeliver", createBody("c", "dtv1.card//IM_GROUP.cid-group"), "bad-token")).status).toBe(401)
    expect((await call("POST", "/v1.0/card/instances/createAndDeliver", createBody("c", "dtv1.card//IM_GROUP.cid-unknown"))).status).toBe(400)
    expect((await call("POST", "/v1.0/card/instances/createAndDeliver", createBody("c", "dtv1.card//IM_ROBOT.staff-nobody"))).status).toBe(400)
    const groupWithRobotModel = { ...createBody("c", "dtv1.card//IM_GROUP.cid-group"), imGroupOpenDeliverModel: undefined, imRobotOpenDeliverModel: { spaceType: "IM_ROBOT" } }
    expect((await call("POST", "/v1.0/card/instances/createAndDeliver", groupWithRobotModel)).status).toBe(400)
    const numberParam = createBody("c", "dtv1.card//IM_GROUP.cid-group", { cardData: { cardParamMap: { flowStatus: 2 } } })
    expect((await call("POST", "/v1.0/card/instances/createAndDeliver", numberParam)).body.code).toBe("invalidParameter.cardParamMap")
    expect((await call("POST", "/v1.0/card/instances/createAndDeliver", createBody("c", "dtv1.card//IM_GROUP.cid-group"))).status).toBe(200)
    expect((await call("POST", "/v1.0/card/instances/createAndDeliver", createBody("c", "dtv1.card//IM_GROUP.cid-group"))).status).toBe(400)
    expect((await stream("no-such-card", "x")).status).toBe(404)
    expect(emulator.cardsFor("cid-group")).toHaveLength(1)
  })

  it("injects card failures: 403 without permission, 429, 500, each for the given number of calls", async () => {
    emulator.failCard({ kind: "create", status: 403 })
    const refused = await call("POST", "/v1.0/card/instances/createAndDeliver", createBody("c1", "dtv1.card//IM_ROBOT.staff-1"))
    expect(refused.status).toBe(403)
    expect(refused.body.code).toBe("Forbidden.AccessDenied.AccessTokenPermissionDenied")
    expect((await call("POST", "/v1.0/card/instances/createAndDeliver", createBody("c1", "dtv1.card//IM_ROBOT.staff-1"))).status).toBe(200)
    emulator.failCard({ kind: "streaming", status: 429, times: 2 })
    emulator.failCard({ kind: "instances", status: 500 })
    expect((await stream("c1", "a")).body.code).toMatch(/QpsLimit/)
    expect((await stream("c1", "a")).status).toBe(429)
    expect((await stream("c1", "a")).status).toBe(200)
    expect((await call("PUT", "/v1.0/card/instances", { outTrackId: "c1", cardData: { cardParamMap: { flowStatus: "3" } } })).status).toBe(500)
  })
})
