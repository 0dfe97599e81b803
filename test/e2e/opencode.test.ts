/**
 * End to end against a real `opencode serve` (offline, fake model): the bridge's turn, long answers,
 * Basic auth, and OpenCode launching our MCP server exactly as the README says.
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type DingTalkEmulator, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { type FakeModel, startFakeModel } from "../../src/testing/FakeModel.js"
import { startBridge, testEnv } from "../support/bridge.js"
import { MAIN } from "../support/mcpProcess.js"
import { type RealOpenCode, startRealOpenCode } from "../support/realOpenCode.js"

const PASSWORD = "e2e-password"
let model: FakeModel
let opencode: RealOpenCode
let bridgeSide: DingTalkEmulator
let mcpSide: DingTalkEmulator

/** Runs an in-process bridge against `bridgeSide` for the duration of `body`. */
const withBridge = (env: Record<string, string>, body: () => Promise<void>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    // Plain markdown replies here; live cards have their own tests (cards.test.ts).
    yield* startBridge(testEnv(bridgeSide, opencode.url, { DINGTALK_CARDS: "off", ...env }))
    yield* Effect.promise(() => bridgeSide.waitForNewConnection(bridgeSide.totalConnections - 1, 10_000))
    yield* Effect.promise(body)
  })))

beforeAll(async () => {
  model = await startFakeModel()
  bridgeSide = await startDingTalkEmulator()
  mcpSide = await startDingTalkEmulator({ clientId: "ding-mcp", clientSecret: "mcp-secret" })
  // The README's snippet: "node" on PATH (the system Node) and the absolute path of dist/main.js.
  opencode = await startRealOpenCode({
    modelUrl: model.url,
    password: PASSWORD,
    mcp: (opencodeUrl) => ({
      dingtalk: {
        type: "local",
        command: ["node", MAIN],
        environment: {
          DINGTALK_CLIENT_ID: mcpSide.clientId,
          DINGTALK_CLIENT_SECRET: mcpSide.clientSecret,
          DINGTALK_API_URL: mcpSide.url,
          OPENCODE_SERVER_URL: opencodeUrl,
          OPENCODE_SERVER_PASSWORD: PASSWORD,
          // The emulator's default sender.
          DINGTALK_ACCESS: "allowlist",
          DINGTALK_ALLOWED_USERS: "staff-1",
          DINGTALK_CARDS: "off",
        },
        enabled: true,
        timeout: 30_000,
      },
    }),
  })
}, 90_000)

afterAll(async () => {
  await opencode?.stop()
  await Promise.all([model?.close(), bridgeSide?.close(), mcpSide?.close()])
})

describe("with a real OpenCode", () => {
  it("a DingTalk message is answered by OpenCode through the bridge", async () => {
    await withBridge({ OPENCODE_SERVER_PASSWORD: PASSWORD }, async () => {
      bridgeSide.pushMessage({ text: "hello real opencode", conversationId: "cid-e2e" })
      const [reply] = await bridgeSide.waitForReplies(1, { conversationId: "cid-e2e", timeoutMs: 30_000 })
      expect(reply!.text).toBe("ECHO: hello real opencode")
    })
    const sessions = await (await fetch(`${opencode.url}/session`, { headers: { authorization: `Basic ${Buffer.from(`opencode:${PASSWORD}`).toString("base64")}` } })).json()
    expect(sessions.some((s: { title: string }) => s.title.endsWith("[cid-e2e]"))).toBe(true)
  }, 60_000)

  it("a long answer arrives in ordered, numbered parts", async () => {
    await withBridge({ OPENCODE_SERVER_PASSWORD: PASSWORD }, async () => {
      bridgeSide.pushMessage({ text: "BIGREPLY 45000", conversationId: "cid-long" })
      const first = await bridgeSide.waitForReplies(1, { conversationId: "cid-long", timeoutMs: 30_000 })
      const total = Number(/^\(1\/(\d+)\)/.exec(first[0]!.text)?.[1])
      expect(total).toBeGreaterThanOrEqual(3)
      const parts = await bridgeSide.waitForReplies(total, { conversationId: "cid-long", timeoutMs: 10_000 })
      parts.forEach((part, i) => {
        expect(part.text.startsWith(`(${i + 1}/${total})\n`)).toBe(true)
        expect(part.bytes).toBeLessThanOrEqual(20_000)
      })
      expect(parts.map((p) => p.text).join("")).toContain("# Big reply")
    })
  }, 60_000)

  it("Basic auth: without the password the user is told OpenCode refused, without internals", async () => {
    const unauthorised = await fetch(`${opencode.url}/session`)
    expect(unauthorised.status).toBe(401)
    await withBridge({}, async () => {
      bridgeSide.pushMessage({ text: "no password", conversationId: "cid-noauth" })
      const [reply] = await bridgeSide.waitForReplies(1, { conversationId: "cid-noauth", timeoutMs: 20_000 })
      expect(reply!.text).toMatch(/OpenCode refused the bridge's credentials/)
      expect(reply!.text).not.toMatch(/http:|127\.0\.0\.1|OPENCODE_/)
    })
  }, 60_000)

  it("OpenCode launches our MCP server from the README snippet and the model's tool call reaches DingTalk", async () => {
    const auth = { authorization: `Basic ${Buffer.from(`opencode:${PASSWORD}`).toString("base64")}` }
    const deadline = Date.now() + 30_000
    let status: Record<string, { status: string }> = {}
    while (Date.now() < deadline) {
      status = await (await fetch(`${opencode.url}/mcp`, { headers: auth })).json()
      if (status.dingtalk?.status === "connected") break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(status.dingtalk?.status).toBe("connected")
    // The MCP server OpenCode launched is itself a bridge: DingTalk reaches it, it asks OpenCode,
    // and the model answers by calling dingtalk_send_message on it.
    await mcpSide.waitForConnections(1, 20_000)
    const call = JSON.stringify({ conversationId: "cid-mcp", message: "Sent by the agent through MCP" })
    mcpSide.pushMessage({ text: `CALLTOOL dingtalk_dingtalk_send_message ${call}`, conversationId: "cid-mcp" })
    const replies = await mcpSide.waitForReplies(2, { conversationId: "cid-mcp", timeoutMs: 40_000 })
    expect(replies[0]!.text).toBe("Sent by the agent through MCP")
    expect(replies[1]!.text).toMatch(/^TOOL RESULT: Sent to cid-mcp in 1 part/)
    const toolNames = model.requests.flatMap((r) => r.tools)
    expect(toolNames).toContain("dingtalk_dingtalk_send_message")
  }, 90_000)
})
