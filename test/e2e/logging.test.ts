/**
 * Tool calls run in the application's runtime: a log line written inside one follows LOG_FORMAT and
 * LOG_LEVEL like every other line, on stderr (stdout stays JSON-RPC only).
 */
import { describe, expect, it } from "vitest"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { onlyJsonRpc, spawnMain } from "../support/mcpProcess.js"
import { cleanupAfterEach } from "../support/resources.js"

const onCleanup = cleanupAfterEach()
const EXPIRED = "sessionWebhook expired; sending through the robot OpenAPI"

/** Starts the bridge, lets a conversation's webhook expire, and sends to it with the tool (Delivery logs the fallback). */
const sendAfterExpiry = async (env: Record<string, string>) => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode()
  onCleanup(() => emulator.close(), () => opencode.close())
  const server = spawnMain({
    DINGTALK_CLIENT_ID: emulator.clientId,
    DINGTALK_CLIENT_SECRET: emulator.clientSecret,
    DINGTALK_API_URL: emulator.url,
    OPENCODE_SERVER_URL: opencode.url,
    BRIDGE_SINGLE_OWNER: "false",
    DINGTALK_ACCESS: "open",
    ...env,
  })
  onCleanup(() => server.kill())
  await server.initialize()
  await emulator.waitForConnections(1, 10_000)
  emulator.pushMessage({ text: "hello", conversationId: "cid-log", senderStaffId: "staff-log" })
  await emulator.waitForReplies(1, { conversationId: "cid-log", timeoutMs: 10_000 })
  emulator.expireWebhook("cid-log")
  const sent = await server.callTool("dingtalk_send_message", { conversationId: "cid-log", message: "from a tool" })
  expect(sent.isError).toBeFalsy()
  expect(emulator.repliesFor("cid-log").at(-1)!.route).toBe("openapi-o2o")
  expect(onlyJsonRpc(server.stdoutLines)).toBe(true)
  return server
}

/** stderr arrives through its own pipe, after the tool's answer on stdout at times: give it a moment. */
const settle = async (server: { stderr: () => string }, done: (stderr: string) => boolean) => {
  const deadline = Date.now() + 3_000
  while (!done(server.stderr()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
}

describe("logging inside tool calls", () => {
  it("with LOG_FORMAT=json a line logged inside a tool call is JSON on stderr at the app's level", async () => {
    const server = await sendAfterExpiry({ LOG_FORMAT: "json", LOG_LEVEL: "info" })
    await settle(server, (stderr) => stderr.includes(EXPIRED))
    const line = server.stderr().split("\n").find((l) => l.includes(EXPIRED))
    expect(line).toBeDefined()
    const parsed = JSON.parse(line!)
    expect(parsed.level).toBe("INFO")
    expect(JSON.stringify(parsed.message)).toContain(EXPIRED)
    expect(parsed.annotations?.conversationId).toBe("cid-log")
  }, 30_000)

  it("LOG_LEVEL=warn keeps the same info line out of stderr", async () => {
    const server = await sendAfterExpiry({ LOG_FORMAT: "json", LOG_LEVEL: "warn" })
    await settle(server, () => false)
    expect(server.stderr()).not.toContain(EXPIRED)
  }, 30_000)
})
