import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { type DingTalkEmulator, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { type FakeOpenCode, startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { bridgeEnv } from "../support/bridgeInstances.js"
import { onlyJsonRpc, spawnMain, systemNode, type McpProcess } from "../support/mcpProcess.js"
import { cleanupAfterEach } from "../support/resources.js"

const TOOLS = ["dingtalk_send_message", "dingtalk_list_conversations", "dingtalk_get_stats", "dingtalk_get_performance", "dingtalk_approve_pairing", "dingtalk_send_file"]

const onCleanup = cleanupAfterEach()
const track = <T extends { close?: () => Promise<void>; kill?: () => void }>(thing: T): T => {
  onCleanup(() => (thing.kill !== undefined ? thing.kill() : thing.close?.()))
  return thing
}

const waitFor = async (what: string, check: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe("dist/main.js as OpenCode runs it", () => {
  it("exits with code 2 and names the variable when DINGTALK_CLIENT_SECRET is missing", async () => {
    const server = track(spawnMain({ DINGTALK_CLIENT_ID: "ding-x" }))
    const { code } = await server.exited
    expect(code).toBe(2)
    expect(server.stderr()).toMatch(/DINGTALK_CLIENT_SECRET is not set/)
    expect(server.stderr()).not.toMatch(/\n\s+at /) // no stack trace
    expect(server.stdoutLines.join("")).toBe("")
  })

  it("exits with code 2 on an invalid number, naming it", async () => {
    const server = track(spawnMain({ DINGTALK_CLIENT_ID: "a", DINGTALK_CLIENT_SECRET: "b", BRIDGE_CONCURRENCY: "lots" }))
    expect((await server.exited).code).toBe(2)
    expect(server.stderr()).toMatch(/BRIDGE_CONCURRENCY is invalid/)
  })

  it("exits with code 1 and one clear line when every reconnect attempt failed (for a supervisor to restart it)", async () => {
    const server = track(spawnMain({
      DINGTALK_CLIENT_ID: "a", DINGTALK_CLIENT_SECRET: "b", DINGTALK_API_URL: "http://127.0.0.1:9",
      DINGTALK_RECONNECT_BASE_MS: "50", DINGTALK_RECONNECT_MAX_ATTEMPTS: "2", DINGTALK_RECONNECT_JITTER: "false",
    }))
    expect((await server.exited).code).toBe(1)
    expect(server.stderr()).toMatch(/DingTalk connection failed 3 times in a row .*giving up so a supervisor can restart/)
  })

  it("exits with code 2 when DingTalk rejects the credentials, without retrying", async () => {
    const emulator = track(await startDingTalkEmulator())
    const server = track(spawnMain({ DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: "not-the-secret-7f3a", DINGTALK_API_URL: emulator.url }))
    expect((await server.exited).code).toBe(2)
    expect(server.stderr()).toMatch(/DingTalk rejected DINGTALK_CLIENT_ID \/ DINGTALK_CLIENT_SECRET \(HTTP 401/)
    expect(server.stderr()).not.toContain("not-the-secret-7f3a")
    expect(emulator.gatewayCalls).toBe(1)
  })

  it("answers MCP at once even when DingTalk is unreachable, and stops within 3 s when stdin closes", async () => {
    const started = Date.now()
    const server = track(spawnMain({ DINGTALK_CLIENT_ID: "a", DINGTALK_CLIENT_SECRET: "b", DINGTALK_API_URL: "http://127.0.0.1:9" }))
    const init = await server.initialize()
    expect(init.serverInfo.name).toBe("dingtalk-mcp-server")
    expect(Date.now() - started).toBeLessThan(5_000)
    const stats = await server.callTool("dingtalk_get_stats")
    expect(stats.structuredContent.connection.state).toMatch(/connecting|backoff/)
    const closedAt = Date.now()
    server.child.stdin!.end()
    const { code } = await server.exited
    expect(code).toBe(0)
    expect(Date.now() - closedAt).toBeLessThan(3_000)
    expect(onlyJsonRpc(server.stdoutLines)).toBe(true)
  })

  it("bridges a DingTalk message to OpenCode and back, and serves the six tools over clean stdio", async () => {
    const emulator: DingTalkEmulator = track(await startDingTalkEmulator())
    const opencode: FakeOpenCode = track(await startFakeOpenCode())
    const server: McpProcess = track(spawnMain(bridgeEnv(emulator, opencode)))
    await server.initialize()
    const listed = await server.request("tools/list")
    expect(listed.result.tools.map((t: { name: string }) => t.name)).toEqual(TOOLS)
    for (const tool of listed.result.tools) {
      expect(tool.description.length).toBeGreaterThan(40)
      expect(tool.inputSchema.type).toBe("object")
    }

    await emulator.waitForConnections(1, 10_000)
    emulator.pushMessage({ text: "hello from DingTalk", conversationId: "cid-main", senderNick: "Han Meimei" })
    const [answer] = await emulator.waitForReplies(1, { conversationId: "cid-main", timeoutMs: 10_000 })
    expect(answer!.text).toBe("ECHO: hello from DingTalk")
    await waitFor("conversation logged", () => server.stderr().includes("cid-main"))

    const list = await server.callTool("dingtalk_list_conversations")
    expect(list.structuredContent.conversations[0].conversationId).toBe("cid-main")

    const sent = await server.callTool("dingtalk_send_message", { conversationId: "cid-main", message: "Build finished ✅" })
    expect(sent.isError).toBeFalsy()
    const replies = await emulator.waitForReplies(2, { conversationId: "cid-main" })
    expect(replies[1]!.text).toBe("Build finished ✅")

    // 50 000 bytes through the tool: complete, in numbered parts, each under DingTalk's limit.
    const long = Array.from({ length: 1_100 }, (_, i) => `Line ${i}: 钉钉 report 🚀 ${"=".repeat(16)}`).join("\n")
    expect(Buffer.byteLength(long)).toBeGreaterThan(50_000)
    const sentLong = await server.callTool("dingtalk_send_message", { conversationId: "cid-main", message: long })
    const parts = sentLong.structuredContent.parts as number
    expect(parts).toBeGreaterThanOrEqual(3)
    const received = (await emulator.waitForReplies(2 + parts, { conversationId: "cid-main" })).slice(2)
    expect(received.map((r, i) => r.text.replace(`(${i + 1}/${parts})\n`, "")).join("")).toBe(long)
    for (const part of received) expect(part.bytes).toBeLessThanOrEqual(20_000)

    const unknown = await server.callTool("dingtalk_send_message", { conversationId: "cid-nope", message: "hi" })
    expect(unknown.isError).toBe(true)
    expect(unknown.content[0]!.text).toMatch(/dingtalk_list_conversations/)

    const invalid = await server.callTool("dingtalk_send_message", { conversationId: "cid-main" })
    expect(invalid.isError).toBe(true)

    // A reconnect must not print anything either (the SDK logs "connect success" on stdout).
    const before = emulator.totalConnections
    emulator.dropConnection()
    await emulator.waitForNewConnection(before, 5_000)

    const performance = await server.callTool("dingtalk_get_performance")
    expect(performance.structuredContent.latencyMs.turn.count).toBe(1)

    server.child.stdin!.end()
    expect((await server.exited).code).toBe(0)
    expect(onlyJsonRpc(server.stdoutLines)).toBe(true)
    expect(server.stderr()).not.toContain(emulator.clientSecret)
  }, 30_000)

  it("on SIGTERM, the parts of a reply still waiting for the rate limiter are flushed before exit", async () => {
    const emulator = track(await startDingTalkEmulator())
    const opencode = track(await startFakeOpenCode())
    const server = track(spawnMain({
      DINGTALK_CLIENT_ID: emulator.clientId,
      DINGTALK_CLIENT_SECRET: emulator.clientSecret,
      DINGTALK_API_URL: emulator.url,
      OPENCODE_SERVER_URL: opencode.url,
      DINGTALK_RATE_LIMIT: "1",
      DINGTALK_RATE_WINDOW_MS: "700",
      DINGTALK_ACCESS: "open",
    }))
    await server.initialize()
    await emulator.waitForConnections(1, 10_000)
    emulator.pushMessage({ text: "BIGREPLY 50000", conversationId: "cid-flush" })
    const [first] = await emulator.waitForReplies(1, { conversationId: "cid-flush", timeoutMs: 10_000 })
    const total = Number(/^\(1\/(\d+)\)/.exec(first!.text)?.[1])
    expect(total).toBeGreaterThanOrEqual(3)
    server.child.kill("SIGTERM")
    const { code } = await server.exited
    expect(emulator.repliesFor("cid-flush").length).toBe(total)
    expect(code).toBe(0)
    expect(server.stderr()).toMatch(/Flushing 1 pending reply/)
  }, 20_000)

  const oldNode = systemNode()
  const oldMajor = oldNode === undefined ? undefined : Number(execFileSync(oldNode, ["-p", "process.versions.node.split('.')[0]"]).toString().trim())
  it.runIf(oldMajor !== undefined && oldMajor < 22)(`runs in the process of the system Node ${oldMajor ?? ""}, stdout JSON-RPC only`, async () => {
    const server = track(spawnMain({ DINGTALK_CLIENT_ID: "a", DINGTALK_CLIENT_SECRET: "b", DINGTALK_API_URL: "http://127.0.0.1:9" }, { node: oldNode! }))
    const init = await server.initialize()
    expect(init.serverInfo.name).toBe("dingtalk-mcp-server")
    server.child.stdin!.end()
    expect((await server.exited).code).toBe(0)
    expect(onlyJsonRpc(server.stdoutLines)).toBe(true)
    expect(server.stderr()).toContain(`v${execFileSync(oldNode!, ["-p", "process.versions.node"]).toString().trim()} is past its end of life`)
  })
})
