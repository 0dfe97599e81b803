/**
 * End to end against a real `opencode serve` with `"permission": {"bash": "ask"}` and a model that
 * calls `bash` or the `question` tool: the request reaches the chat, typed answers act at once (the
 * turn is waiting for them), group members who did not ask are refused, an unanswered request is
 * rejected after the timeout; and `/model`, `/agent`, `/sessions`, `/session <n>` survive a restart.
 */
import { Effect } from "effect"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { existsSync } from "node:fs"
import { chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type DingTalkEmulator, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { type FakeModel, startFakeModel } from "../../src/testing/FakeModel.js"
import { startBridge, startPersistentBridge, testEnv } from "../support/bridge.js"
import { spawnMain } from "../support/mcpProcess.js"
import { type RealOpenCode, startRealOpenCode } from "../support/realOpenCode.js"
import { freePort } from "../support/resources.js"

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

let model: FakeModel
let opencode: RealOpenCode
let dingtalk: DingTalkEmulator
let stateDir: string

const BASH = `CALLTOOL bash {"command":"echo permitted","description":"Print a word"}`
const QUESTION = `CALLTOOL question ${JSON.stringify({
  questions: [{ question: "Which colour?", header: "Colour", options: [{ label: "Red", description: "warm" }, { label: "Blue", description: "cool" }] }],
})}`

/** Runs an in-process bridge for the duration of `body`. */
const withBridge = (env: Record<string, string>, body: () => Promise<void>, persistent = false) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const before = dingtalk.totalConnections
    const full = testEnv(dingtalk, opencode.url, { DINGTALK_ACCESS: "open", DINGTALK_CARDS: "off", BRIDGE_STATE_DIR: stateDir, ...env })
    yield* persistent ? startPersistentBridge(full) : startBridge(full)
    yield* Effect.promise(() => dingtalk.waitForNewConnection(before, 10_000))
    yield* Effect.promise(body)
  })))

/** The next reply in `conversationId` after the `seen` first ones. */
const nextReply = async (conversationId: string, seen: number, timeoutMs = 30_000) => (await dingtalk.waitForReplies(seen + 1, { conversationId, timeoutMs }))[seen]!

/** When OpenCode first lists a pending permission request (`performance.now()`). */
const whenOpenCodeAsks = async () => {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const pending = await (await fetch(`${opencode.url}/permission`)).json() as Array<unknown>
    if (pending.length > 0) return performance.now()
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error("OpenCode never asked for permission")
}

/** Waits (real time) until `check` holds. */
const eventuallyTrue = async (check: () => boolean, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time")
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), "interactive-state-"))
  model = await startFakeModel()
  dingtalk = await startDingTalkEmulator()
  opencode = await startRealOpenCode({ modelUrl: model.url, permission: { bash: "ask" }, extraModels: ["other"] })
}, 90_000)

afterAll(async () => {
  await opencode?.stop()
  await Promise.all([model?.close(), dingtalk?.close()])
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true })
})

describe("permission requests and questions from a real OpenCode", () => {
  it("the request reaches the chat within 2 s and /allow lets the turn finish with the tool's result", async () => {
    await withBridge({}, async () => {
      const cid = "cid-allow"
      dingtalk.pushMessage({ text: BASH, conversationId: cid })
      const openedAt = await whenOpenCodeAsks()
      const asked = await nextReply(cid, 0)
      expect(asked.text).toContain("OpenCode asks for permission")
      expect(asked.text).toContain("echo permitted")
      expect(asked.text).toContain("/allow 1")
      expect(asked.at - openedAt).toBeLessThan(2_000)
      dingtalk.pushMessage({ text: "/allow", conversationId: cid })
      const replies = await dingtalk.waitForReplies(3, { conversationId: cid, timeoutMs: 30_000 })
      const texts = replies.map((r) => r.text)
      expect(texts.some((t) => t.startsWith("✅ Allowed once"))).toBe(true)
      expect(texts.some((t) => t.startsWith("TOOL RESULT:") && t.includes("permitted"))).toBe(true)
    })
  }, 60_000)

  it("/deny with a reason lets the agent continue with that reason", async () => {
    await withBridge({}, async () => {
      const cid = "cid-deny"
      dingtalk.pushMessage({ text: BASH, conversationId: cid })
      await nextReply(cid, 0)
      dingtalk.pushMessage({ text: "/deny because it is Friday", conversationId: cid })
      const replies = await dingtalk.waitForReplies(3, { conversationId: cid, timeoutMs: 30_000 })
      const texts = replies.map((r) => r.text)
      expect(texts.some((t) => t.startsWith("🚫 Rejected by") && t.includes("because it is Friday"))).toBe(true)
      expect(texts.some((t) => t.startsWith("TOOL RESULT:") && t.includes("because it is Friday"))).toBe(true)
    })
  }, 60_000)

  it("in a group, only the sender of the prompt (or an admin) may answer", async () => {
    await withBridge({ DINGTALK_ADMINS: "boss" }, async () => {
      const cid = "cid-group"
      const group = { conversationId: cid, conversationType: "2" as const }
      dingtalk.pushMessage({ ...group, text: BASH, senderStaffId: "alice" })
      await nextReply(cid, 0)
      dingtalk.pushMessage({ ...group, text: "/allow", senderStaffId: "mallory" })
      const refused = await nextReply(cid, 1)
      expect(refused.text).toContain("Only the person who sent the prompt or an admin")
      dingtalk.pushMessage({ ...group, text: "/allow 1", senderStaffId: "boss", senderNick: "Boss" })
      const replies = await dingtalk.waitForReplies(4, { conversationId: cid, timeoutMs: 30_000 })
      expect(replies.some((r) => r.text.startsWith("✅ Allowed once by Boss"))).toBe(true)
      expect(replies.some((r) => r.text.startsWith("TOOL RESULT:") && r.text.includes("permitted"))).toBe(true)
    })
  }, 60_000)

  it("an unanswered request is rejected after BRIDGE_PERMISSION_TIMEOUT_MS and the user is told", async () => {
    await withBridge({ BRIDGE_PERMISSION_TIMEOUT_MS: "2000" }, async () => {
      const cid = "cid-timeout"
      dingtalk.pushMessage({ text: BASH, conversationId: cid })
      const asked = await nextReply(cid, 0)
      expect(asked.text).toContain("within 2 s")
      const replies = await dingtalk.waitForReplies(3, { conversationId: cid, timeoutMs: 30_000 })
      const texts = replies.map((r) => r.text)
      expect(texts.some((t) => t.startsWith("⌛ Request #1 got no answer within 2 s"))).toBe(true)
      // The agent was told why (the rejection message is its tool result).
      expect(texts.some((t) => t.startsWith("TOOL RESULT:") && t.includes("No answer came from DingTalk"))).toBe(true)
    })
  }, 60_000)

  it("several questions in one request are asked one after another; a free-text answer works too", async () => {
    const two = `CALLTOOL question ${JSON.stringify({
      questions: [
        { question: "Which colour?", header: "Colour", options: [{ label: "Red", description: "warm" }, { label: "Blue", description: "cool" }] },
        { question: "Which size?", header: "Size", options: [{ label: "S", description: "small" }, { label: "L", description: "large" }] },
      ],
    })}`
    await withBridge({}, async () => {
      const cid = "cid-two-questions"
      dingtalk.pushMessage({ text: two, conversationId: cid })
      expect((await nextReply(cid, 0)).text).toContain("question 1 of 2")
      dingtalk.pushMessage({ text: "teal", conversationId: cid })
      const second = await nextReply(cid, 1)
      expect(second.text).toContain("question 2 of 2")
      expect(second.text).toContain("Which size?")
      dingtalk.pushMessage({ text: "2", conversationId: cid })
      const replies = await dingtalk.waitForReplies(4, { conversationId: cid, timeoutMs: 30_000 })
      const result = replies.map((r) => r.text).find((t) => t.startsWith("TOOL RESULT:"))
      expect(result).toContain("teal")
      expect(result).toContain("\"Which size?\"=\"L\"")
    })
  }, 60_000)

  it("while a request waits, /status shows it, other chats are answered and /stop still works", async () => {
    await withBridge({}, async () => {
      const cid = "cid-waiting"
      dingtalk.pushMessage({ text: BASH, conversationId: cid })
      await nextReply(cid, 0)
      dingtalk.pushMessage({ text: "/status", conversationId: cid })
      const status = await nextReply(cid, 1)
      expect(status.text).toContain("**Waiting for your answer:** #1 permission for **bash** `echo permitted`")
      dingtalk.pushMessage({ text: "meanwhile", conversationId: "cid-other" })
      expect((await nextReply("cid-other", 0)).text).toBe("ECHO: meanwhile")
      dingtalk.pushMessage({ text: "/stop", conversationId: cid })
      const replies = await dingtalk.waitForReplies(4, { conversationId: cid, timeoutMs: 30_000 })
      const texts = replies.map((r) => r.text)
      expect(texts).toContain("⏹ Stopped.")
      expect(texts).toContain("Request #1 was withdrawn: the turn was stopped.")
      expect(await (await fetch(`${opencode.url}/permission`)).json()).toEqual([])
    })
  }, 60_000)

  it("a question is answered by its option number", async () => {
    await withBridge({}, async () => {
      const cid = "cid-question"
      dingtalk.pushMessage({ text: QUESTION, conversationId: cid })
      const asked = await nextReply(cid, 0)
      expect(asked.text).toContain("Which colour?")
      expect(asked.text).toContain("2. **Blue**")
      dingtalk.pushMessage({ text: "2", conversationId: cid })
      const replies = await dingtalk.waitForReplies(3, { conversationId: cid, timeoutMs: 30_000 })
      const texts = replies.map((r) => r.text)
      expect(texts.some((t) => t.startsWith("✅ Answered by") && t.includes("Blue"))).toBe(true)
      expect(texts.some((t) => t.startsWith("TOOL RESULT:") && t.includes("Blue"))).toBe(true)
    })
  }, 60_000)
})

describe("interactive cards (DINGTALK_ACTION_CARD_TEMPLATE_ID)", () => {
  const CARDS = { DINGTALK_ACTION_CARD_TEMPLATE_ID: "interactive-test.schema" }

  it("the request arrives as a card; a button click is acked at once, allows the call and the card shows who decided", async () => {
    await withBridge(CARDS, async () => {
      expect(JSON.stringify(dingtalk.lastSubscriptions)).toContain("/v1.0/card/instances/callback")
      const cid = "cid-card"
      dingtalk.pushMessage({ text: BASH, conversationId: cid, senderStaffId: "carol", senderNick: "Carol" })
      const [card] = await dingtalk.waitForCards(1, { conversationId: cid, timeoutMs: 30_000 })
      expect(card!.templateId).toBe("interactive-test.schema")
      expect(card!.variables.status).toBe("Waiting for an answer")
      expect(card!.variables.content).toContain("echo permitted")
      const { requestId, sessionId, conversationId } = card!.variables
      expect(conversationId).toBe(cid)
      const frameId = dingtalk.pushCardCallback({ outTrackId: card!.outTrackId, userId: "carol", actionId: "once", params: { requestId: requestId!, sessionId: sessionId!, conversationId: cid } })
      const ack = await dingtalk.waitForAck(frameId)
      expect(ack.code).toBe(200)
      const replies = await dingtalk.waitForReplies(2, { conversationId: cid, timeoutMs: 30_000 })
      expect(replies.some((r) => r.text.startsWith("TOOL RESULT:") && r.text.includes("permitted"))).toBe(true)
      expect(card!.variables.status).toBe("✅ Allowed once by Carol")
      expect(card!.variables.answered).toBe("true")

      // The same button again: already answered, and OpenCode is not asked twice.
      dingtalk.pushCardCallback({ outTrackId: card!.outTrackId, userId: "carol", actionId: "reject", params: { requestId: requestId!, sessionId: sessionId!, conversationId: cid } })
      await eventuallyTrue(() => card!.variables.status === "Already answered")
    })
  }, 60_000)

  it("a question card offers its options, and the clicked one is the agent's answer", async () => {
    await withBridge(CARDS, async () => {
      const cid = "cid-card-question"
      dingtalk.pushMessage({ text: QUESTION, conversationId: cid, senderStaffId: "dave", senderNick: "Dave" })
      const [card] = await dingtalk.waitForCards(1, { conversationId: cid, timeoutMs: 30_000 })
      expect(card!.variables.kind).toBe("question")
      expect(JSON.parse(card!.variables.options!)).toEqual(["Red", "Blue"])
      dingtalk.pushCardCallback({ outTrackId: card!.outTrackId, userId: "dave", actionId: "answer", params: { requestId: card!.variables.requestId!, value: "Blue" } })
      const replies = await dingtalk.waitForReplies(2, { conversationId: cid, timeoutMs: 30_000 })
      expect(replies.some((r) => r.text.startsWith("TOOL RESULT:") && r.text.includes("Blue"))).toBe(true)
      expect(card!.variables.status).toBe("✅ Answered by Dave: Blue")
    })
  }, 60_000)

  it("a reject button with a group member who did not ask is refused; the asker's reject goes through", async () => {
    await withBridge(CARDS, async () => {
      const cid = "cid-card-group"
      const group = { conversationId: cid, conversationType: "2" as const }
      dingtalk.pushMessage({ ...group, text: BASH, senderStaffId: "alice", senderNick: "Alice" })
      const [card] = await dingtalk.waitForCards(1, { conversationId: cid, timeoutMs: 30_000 })
      const params = { requestId: card!.variables.requestId!, sessionId: card!.variables.sessionId!, conversationId: cid }
      dingtalk.pushCardCallback({ outTrackId: card!.outTrackId, userId: "mallory", actionId: "once", params })
      const refused = await nextReply(cid, 0)
      expect(refused.text).toContain("Only the person who sent the prompt or an admin")
      expect(card!.variables.status).toBe("Waiting for an answer")
      dingtalk.pushCardCallback({ outTrackId: card!.outTrackId, userId: "alice", actionId: "reject", params })
      await eventuallyTrue(() => card!.variables.status === "🚫 Rejected by Alice")
    })
  }, 60_000)
})

describe("sessions, models and agents chosen from chat", () => {
  it("/model, /agent and /session apply to the next prompts and survive a restart", async () => {
    const cid = "cid-settings"
    let seen = 0
    const say = async (text: string) => {
      dingtalk.pushMessage({ text, conversationId: cid })
      return (await nextReply(cid, seen++)).text
    }
    let firstSession = ""
    await withBridge({}, async () => {
      expect(await say("first")).toBe("ECHO: first")
      expect(await say("/new")).toContain("Started a new OpenCode session")
      expect(await say("second")).toBe("ECHO: second")
      const list = await say("/sessions")
      expect(list).toMatch(/1\. ▶ .*\n2\. /)
      firstSession = /2\. .*\(`(ses_[^`]+)`\)/.exec(list)![1]!
      expect(await say("/session 2")).toContain(firstSession)
      const agents = await say("/agent")
      expect(agents).toContain("`plan`")
      expect(agents).not.toContain("`explore`")
      expect(await say("/agent plan")).toContain("`plan`")
      expect(await say("/model fake/other")).toContain("fake/other")
      expect(await say("/model nosuch")).toContain("provider/model")
    }, true)
    const file = path.join(stateDir, `${dingtalk.clientId}.choices.json`)
    expect(statSync(file).mode & 0o777).toBe(0o600)

    // After a restart: same session, model and agent.
    await withBridge({}, async () => {
      const status = await say("/status")
      expect(status).toContain("**Model:** fake/other")
      expect(status).toContain("**Agent:** plan")
      // The plan agent adds its reminder to the prompt, which the echo model repeats.
      const third = await say("third")
      expect(third).toMatch(/^ECHO: third/)
      expect(third).toContain("Plan Mode")
      const history = await (await fetch(`${opencode.url}/session/${firstSession}/message`)).json() as Array<{ info: { role: string; modelID?: string; agent?: string; mode?: string } }>
      const last = history.filter((m) => m.info.role === "assistant").at(-1)!
      expect(last.info.modelID).toBe("other")
      expect(last.info.agent ?? last.info.mode).toBe("plan")
      const list = await say("/sessions")
      expect(list).toContain(`1. ▶ `)
      expect(list.split("\n").find((l) => l.startsWith("1. "))).toContain(firstSession)
    }, true)
  }, 90_000)
})

describe("privileged settings in groups", () => {
  it("only DINGTALK_ADMINS change a group's model or agent; anyone may list them", async () => {
    await withBridge({ DINGTALK_ADMINS: "boss" }, async () => {
      const cid = "cid-group-settings"
      const group = { conversationId: cid, conversationType: "2" as const }
      dingtalk.pushMessage({ ...group, text: "/agent plan", senderStaffId: "alice" })
      expect((await nextReply(cid, 0)).text).toContain("Only the robot's admins")
      dingtalk.pushMessage({ ...group, text: "/model", senderStaffId: "alice" })
      const models = (await nextReply(cid, 1)).text
      expect(models).toContain("`fake/echo`")
      expect(models).toContain("`fake/other`")
      dingtalk.pushMessage({ ...group, text: "/model fake/other", senderStaffId: "boss" })
      expect((await nextReply(cid, 2)).text).toContain("now uses `fake/other`")
    })
  }, 60_000)
})

describe("the sandbox page", () => {
  it.runIf(existsSync(CHROMIUM))("shows a permission request with buttons, and 'Allow once' lets the turn finish", async () => {
    const port = await freePort()
    const server = spawnMain({ OPENCODE_SERVER_URL: opencode.url, SANDBOX_PORT: String(port), BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), "sandbox-state-")) })
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
      await page.locator("#chats li").first().waitFor({ timeout: 10_000 })
      await page.getByLabel("Message").fill(BASH)
      await page.getByRole("button", { name: "Send" }).click()
      const allow = page.getByRole("button", { name: "Allow once" })
      await allow.waitFor({ timeout: 30_000 }).catch(async (error) => {
        throw new Error(`${error}\n${(await page.locator(".msg").allTextContents()).join("\n")}\n${server.stderr()}`)
      })
      expect(await page.getByRole("button", { name: "Reject" }).count()).toBe(1)
      await allow.click()
      // The answer streams into an AI card (or a plain reply when cards are off).
      await expect.poll(() => page.locator('.msg:not(.user)').allTextContents(), { timeout: 30_000 })
        .toContainEqual(expect.stringMatching(/^Robot.*TOOL RESULT:.*permitted/s))
    } finally {
      await browser.close()
      server.kill()
    }
  }, 60_000)
})
