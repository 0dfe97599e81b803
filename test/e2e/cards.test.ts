/**
 * Live answers end to end: a real `opencode serve` (offline, a fake model that streams slowly), the
 * bridge in-process, and the DingTalk emulator's AI-card endpoints. Checks what a user would see: a
 * card soon after the first token, growing text, the full answer at the end, markdown when cards fail.
 */
import { Effect } from "effect"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Cards } from "../../src/dingtalk/Cards.js"
import { type DingTalkEmulator, type EmulatedCard, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { OpenCodeEvents } from "../../src/opencode/OpenCodeEvents.js"
import { getStats } from "../../src/mcp/GetStats.js"
import { type FakeModel, startFakeModel, streamedText } from "../../src/testing/FakeModel.js"
import { startBridge, testEnv } from "../support/bridge.js"
import { spawnMain } from "../support/mcpProcess.js"
import { freePort } from "../support/resources.js"
import { type RealOpenCode, startRealOpenCode } from "../support/realOpenCode.js"

const UPDATE_MS = 1_000
let model: FakeModel
let opencode: RealOpenCode
let emulator: DingTalkEmulator

type BridgeContext = Effect.Success<ReturnType<typeof startBridge>>

/** Runs an in-process bridge for the duration of `body`. */
const withBridge = (env: Record<string, string>, body: (context: BridgeContext) => Promise<void>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_CARD_UPDATE_MS: String(UPDATE_MS), ...env }))
    yield* Effect.promise(() => emulator.waitForNewConnection(emulator.totalConnections - 1, 10_000))
    // The first turn of a fresh bridge waits for the event stream anyway; this keeps timings honest.
    yield* OpenCodeEvents.use((events) => events.awaitConnected(10_000)).pipe(Effect.provideContext(context))
    yield* Effect.promise(() => body(context))
  })))

const streamingCalls = (card: EmulatedCard) => card.calls.filter((call) => call.kind === "streaming" && !call.isFinalize)
const finalText = (card: EmulatedCard) => card.calls.find((call) => call.kind === "streaming" && call.isFinalize)?.content

beforeAll(async () => {
  model = await startFakeModel()
  emulator = await startDingTalkEmulator()
  opencode = await startRealOpenCode({ modelUrl: model.url })
  // OpenCode's first prompt warms it up (seconds): not what the timings below are about.
  const session = await (await fetch(`${opencode.url}/session`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).json() as { id: string }
  await fetch(`${opencode.url}/session/${session.id}/message`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ parts: [{ type: "text", text: "warm up" }] }) })
}, 90_000)

afterAll(async () => {
  await opencode?.stop()
  await Promise.all([model?.close(), emulator?.close()])
})

describe("live answers in AI cards, with a real OpenCode", () => {
  it("a slow answer streams into a card: created soon after the first token, growing, finalized with the full answer", async () => {
    await withBridge({}, async () => {
      const streamsBefore = model.streams.length
      emulator.pushMessage({ text: "STREAM 20 300", conversationId: "cid-stream", senderStaffId: "staff-stream" })
      const [card] = await emulator.waitForCards(1, { conversationId: "cid-stream", timeoutMs: 30_000 })
      const finished = await emulator.waitForCardFinished(card!.outTrackId, 30_000)
      const stream = model.streams[streamsBefore]!
      expect(finished.openSpaceId).toBe("dtv1.card//IM_ROBOT.staff-stream")
      expect(finished.templateId).toBe("02fcf2f4-5e02-4a85-b672-46d1f715543e.schema")
      expect(finished.createdAt - stream.firstChunkAt!).toBeLessThanOrEqual(1_500)

      const updates = streamingCalls(finished)
      if (process.env.CARD_DEBUG) console.error(stream, finished.createdAt, finished.calls.map((c) => [c.kind, Math.round(c.at), c.content]))
      expect(updates.length).toBeGreaterThanOrEqual(3)
      const texts = [finished.calls[0]!.content ?? "", ...updates.map((call) => call.content ?? "")]
      texts.slice(1).forEach((text, i) => expect(text.startsWith(texts[i]!)).toBe(true))
      expect(finalText(finished)).toBe(streamedText(20))
      expect(finished.text).toBe(streamedText(20))
      expect(finished.flowStatus).toBe("3")
      // Create → updates → finalize: never two calls closer than the interval (the finalize is not throttled).
      const paced = finished.calls.filter((call) => !call.isFinalize && call.kind !== "instances")
      for (let i = 1; i < paced.length; i++) expect(paced[i]!.at - paced[i - 1]!.at).toBeGreaterThanOrEqual(UPDATE_MS)
      // The answer is on the card: no markdown copy.
      expect(emulator.repliesFor("cid-stream")).toHaveLength(0)
    })
  }, 60_000)

  it("a group gets its card in the group's open space", async () => {
    await withBridge({}, async () => {
      emulator.pushMessage({ text: "STREAM 4 300", conversationId: "cid-group-card", conversationType: "2" })
      const [card] = await emulator.waitForCards(1, { conversationId: "cid-group-card", timeoutMs: 30_000 })
      const finished = await emulator.waitForCardFinished(card!.outTrackId, 30_000)
      expect(finished.openSpaceId).toBe("dtv1.card//IM_GROUP.cid-group-card")
      expect(finished.text).toBe(streamedText(4))
    })
  }, 60_000)

  it("a turn with a tool call shows the tool and what it runs on the card", async () => {
    await withBridge({}, async () => {
      const args = JSON.stringify({ command: "sleep 2 && echo tool-done", description: "Wait and print" })
      emulator.pushMessage({ text: `CALLTOOL bash ${args}`, conversationId: "cid-tool", senderStaffId: "staff-tool" })
      const [card] = await emulator.waitForCards(1, { conversationId: "cid-tool", timeoutMs: 30_000 })
      const finished = await emulator.waitForCardFinished(card!.outTrackId, 30_000)
      const shown = finished.calls.map((call) => call.content ?? "")
      expect(shown.some((text) => text.includes("bash: sleep 2 && echo tool-done"))).toBe(true)
      expect(finished.text).toMatch(/TOOL RESULT: .*tool-done/s)
    })
  }, 60_000)

  it("a card refused with 403 (no permission): the answer arrives complete as markdown, cards pause and stats say why", async () => {
    await withBridge({}, async (context) => {
      emulator.failCard({ kind: "create", status: 403 })
      emulator.pushMessage({ text: "STREAM 6 200", conversationId: "cid-403", senderStaffId: "staff-403" })
      const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-403", timeoutMs: 30_000 })
      expect(reply!.text).toBe(streamedText(6))
      expect(emulator.cardsFor("cid-403")).toHaveLength(0)
      const status = await Effect.runPromise(Cards.use((cards) => cards.status).pipe(Effect.provideContext(context)))
      expect(status.pauseReason).toMatch(/403/)
      expect(status.pausedUntil).toBeGreaterThan(Date.now())
      const stats = await Effect.runPromise(getStats.call({}).pipe(Effect.provideContext(context)))
      expect(stats.structured?.cards).toMatchObject({ enabled: true, paused: true, fallbacks: 1 })
      expect(JSON.stringify(stats.structured?.cards)).toMatch(/Card\.Instance\.Write/)
    })
  }, 60_000)

  it("card updates refused with 429: the answer arrives complete as markdown", async () => {
    await withBridge({}, async () => {
      // Three throttled updates in a row give the card up.
      emulator.failCard({ kind: "streaming", status: 429, times: 3 })
      emulator.pushMessage({ text: "STREAM 20 250", conversationId: "cid-429", senderStaffId: "staff-429" })
      const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-429", timeoutMs: 30_000 })
      expect(reply!.text).toBe(streamedText(20))
    })
  }, 60_000)

  it("an answer larger than a card holds continues as markdown, nothing lost", async () => {
    await withBridge({ DINGTALK_CARD_MAX_BYTES: "1000" }, async () => {
      emulator.pushMessage({ text: "STREAM 300 8", conversationId: "cid-big", senderStaffId: "staff-big" })
      const [card] = await emulator.waitForCards(1, { conversationId: "cid-big", timeoutMs: 30_000 })
      const finished = await emulator.waitForCardFinished(card!.outTrackId, 30_000)
      const continued = "\n\n*(continued below)*"
      expect(finished.text.endsWith(continued)).toBe(true)
      const head = finished.text.slice(0, -continued.length)
      expect(Buffer.byteLength(head)).toBeLessThanOrEqual(1_000)
      const replies = await emulator.waitForReplies(1, { conversationId: "cid-big", timeoutMs: 10_000 })
      expect(head + replies.map((reply) => reply.text).join("")).toBe(streamedText(300))
    })
  }, 60_000)

  it("without cards, a long turn gets one progress message, and the next long turn soon after none", async () => {
    await withBridge({ DINGTALK_CARDS: "off", BRIDGE_PROGRESS_AFTER_MS: "1000" }, async () => {
      emulator.pushMessage({ text: "STREAM 8 300", conversationId: "cid-progress", senderStaffId: "staff-progress" })
      const first = await emulator.waitForReplies(2, { conversationId: "cid-progress", timeoutMs: 30_000 })
      expect(first[0]!.text).toMatch(/^⏳ Still working \(\d+ s\)\./)
      expect(first[1]!.text).toBe(streamedText(8))
      emulator.pushMessage({ text: "STREAM 9 300", conversationId: "cid-progress", senderStaffId: "staff-progress" })
      const second = await emulator.waitForReplies(3, { conversationId: "cid-progress", timeoutMs: 30_000 })
      expect(second[2]!.text).toBe(streamedText(9))
      expect(emulator.cardsFor("cid-progress")).toHaveLength(0)
    })
  }, 60_000)

  it("/stop during a stream ends the card as stopped with the text so far", async () => {
    await withBridge({}, async () => {
      emulator.pushMessage({ text: "STREAM 40 250", conversationId: "cid-stop", senderStaffId: "staff-stop" })
      const [card] = await emulator.waitForCards(1, { conversationId: "cid-stop", timeoutMs: 30_000 })
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      emulator.pushMessage({ text: "/stop", conversationId: "cid-stop", senderStaffId: "staff-stop" })
      const finished = await emulator.waitForCardFinished(card!.outTrackId, 30_000)
      expect(finished.text).toMatch(/^chunk-1 chunk-2/)
      expect(finished.text).toMatch(/⏹ Stopped\.$/)
      expect(finished.text).not.toContain("chunk-40")
      expect(finished.flowStatus).toBe("3")
    })
  }, 60_000)

  it("a bridge shutting down mid-stream stops the turn and ends the card as failed, not spinning", async () => {
    let outTrackId = ""
    await withBridge({}, async () => {
      emulator.pushMessage({ text: "STREAM 60 250", conversationId: "cid-shutdown", senderStaffId: "staff-shutdown" })
      const [card] = await emulator.waitForCards(1, { conversationId: "cid-shutdown", timeoutMs: 30_000 })
      outTrackId = card!.outTrackId
    })
    const finished = await emulator.waitForCardFinished(outTrackId, 5_000)
    expect(finished.flowStatus).toBe("5")
    expect(finished.text).toMatch(/^chunk-1[\s\S]*Interrupted: the bridge is restarting/)
  }, 60_000)

  it("the event subscription survives an OpenCode restart between turns: the next turn streams again", async () => {
    await withBridge({}, async (context) => {
      emulator.pushMessage({ text: "STREAM 4 300", conversationId: "cid-restart", senderStaffId: "staff-restart" })
      const [first] = await emulator.waitForCards(1, { conversationId: "cid-restart", timeoutMs: 30_000 })
      await emulator.waitForCardFinished(first!.outTrackId, 30_000)
      await opencode.restart()
      const events = await Effect.runPromise(OpenCodeEvents.use((events) => Effect.gen(function*() {
        // The stream notices the restart and opens again on its backoff.
        yield* Effect.promise(() => waitUntil(async () => (await Effect.runPromise(events.status)).reconnects >= 1, 30_000))
        return yield* events.status
      })).pipe(Effect.provideContext(context)))
      expect(events.connected).toBe(true)
      emulator.pushMessage({ text: "STREAM 8 250", conversationId: "cid-restart", senderStaffId: "staff-restart" })
      const cards = await emulator.waitForCards(2, { conversationId: "cid-restart", timeoutMs: 30_000 })
      const second = await emulator.waitForCardFinished(cards[1]!.outTrackId, 30_000)
      expect(second.text).toBe(streamedText(8))
      expect(streamingCalls(second).length).toBeGreaterThanOrEqual(1)
    })
  }, 90_000)
})

const waitUntil = async (check: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out")
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

describe("the sandbox page", () => {
  it.runIf(existsSync(CHROMIUM))("shows an AI card growing as OpenCode streams, then finished (node dist/main.js, headless Chromium)", async () => {
    const port = await freePort()
    const server = spawnMain({ OPENCODE_SERVER_URL: opencode.url, SANDBOX_PORT: String(port), BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), "sandbox-cards-")) })
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] })
    try {
      await server.initialize()
      const deadline = Date.now() + 10_000
      while (!server.stderr().includes(`http://127.0.0.1:${port}`)) {
        if (Date.now() > deadline) throw new Error(`no chat page announced:\n${server.stderr()}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const page = await browser.newPage()
      await page.goto(`http://127.0.0.1:${port}/`)
      await page.getByLabel("Message").fill("STREAM 24 250")
      await page.getByRole("button", { name: "Send" }).click()
      const card = page.locator('.msg[data-from="card"]')
      // Seen while streaming, with part of the answer…
      await expect.poll(() => card.textContent(), { timeout: 30_000 }).toMatch(/AI card, streaming[\s\S]*chunk-1/)
      const partial = (await card.textContent()) ?? ""
      expect(partial).not.toContain("chunk-24")
      // …and at the end with all of it.
      await expect.poll(() => card.textContent(), { timeout: 30_000 }).toMatch(/AI card, finished[\s\S]*chunk-24/)
      expect(await page.locator('.msg[data-from="robot"]').count()).toBe(0)
    } finally {
      await browser.close()
      server.kill()
    }
  }, 90_000)
})
