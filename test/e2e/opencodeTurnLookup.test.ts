/**
 * Against a real `opencode serve` (offline, fake model): a prompt sent with a `messageID` the bridge
 * chose is accepted, and its turn is found again by that ID — how the durable inbox knows, after a
 * crash, whether OpenCode finished a turn.
 */
import { Effect, Fiber, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { ascendingMessageId } from "../../src/opencode/MessageId.js"
import { OpenCodeClient, textPrompt } from "../../src/opencode/OpenCodeClient.js"
import { turnOf } from "../../src/opencode/TurnLookup.js"
import { type FakeModel, startFakeModel } from "../../src/testing/FakeModel.js"
import { type RealOpenCode, startRealOpenCode } from "../support/realOpenCode.js"

let model: FakeModel
let opencode: RealOpenCode

beforeAll(async () => {
  model = await startFakeModel()
  opencode = await startRealOpenCode({ modelUrl: model.url })
}, 90_000)

afterAll(async () => {
  await opencode?.stop()
  await model?.close()
})

const run = <A, E>(effect: Effect.Effect<A, E, OpenCodeClient>) =>
  Effect.runPromise(effect.pipe(Effect.provide(OpenCodeClient.layer.pipe(Layer.provide(BridgeConfig.layerFrom({
    DINGTALK_CLIENT_ID: "x", DINGTALK_CLIENT_SECRET: "y", OPENCODE_SERVER_URL: opencode.url,
  })))), Effect.scoped))

describe("turn lookup by messageID (real OpenCode)", () => {
  it("a prompt with our messageID is answered, found again by that ID, and kept in order in the history", async () => {
    const found = await run(Effect.gen(function*() {
      const client = yield* OpenCodeClient
      const session = yield* client.createSession("DingTalk: lookup [cid-lookup]")
      const before = yield* turnOf(session.id, ascendingMessageId(Date.now()))
      const first = yield* client.prompt(session.id, textPrompt("one"))
      const messageId = ascendingMessageId(Date.now())
      const second = yield* client.prompt(session.id, textPrompt("two"), { messageID: messageId })
      const after = yield* turnOf(session.id, messageId)
      return { before, first, second, after }
    }))
    expect(found.before).toEqual({ _tag: "Absent" })
    expect(found.first).toEqual({ _tag: "Answered", text: "ECHO: one" })
    expect(found.second).toEqual({ _tag: "Answered", text: "ECHO: two" })
    expect(found.after).toEqual({ _tag: "Finished", result: { _tag: "Answered", text: "ECHO: two" } })
    // The model saw the history in order: our ID sorted after OpenCode's own earlier ones.
    const last = model.requests.at(-1)!
    const userTexts = last.messages.filter((m) => m.role === "user").map((m) => JSON.stringify(m.content))
    expect(userTexts.findIndex((t) => t.includes("one"))).toBeLessThan(userTexts.findIndex((t) => t.includes("two")))
  }, 60_000)

  it("a prompt that is still running is reported as running", async () => {
    const found = await run(Effect.gen(function*() {
      const client = yield* OpenCodeClient
      const session = yield* client.createSession("DingTalk: running [cid-running]")
      const messageId = ascendingMessageId(Date.now())
      const fiber = yield* Effect.forkChild(client.prompt(session.id, textPrompt("SLOW 3000 wait"), { messageID: messageId }))
      yield* Effect.sleep("1500 millis")
      const during = yield* turnOf(session.id, messageId)
      yield* Fiber.join(fiber)
      const after = yield* turnOf(session.id, messageId)
      return { during, after }
    }))
    expect(found.during).toEqual({ _tag: "Running" })
    expect(found.after).toEqual({ _tag: "Finished", result: { _tag: "Answered", text: "ECHO: SLOW 3000 wait" } })
  }, 60_000)
})
