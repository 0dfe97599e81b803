/**
 * Access closed by default, as users run it: `node dist/main.js` with real-looking credentials and no
 * access settings, approvals through the `pair` CLI and the MCP tool, and no internals in chat.
 */
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { MAIN, onlyJsonRpc, spawnMain } from "../support/mcpProcess.js"
import { cleanupAfterEach } from "../support/resources.js"

const onCleanup = cleanupAfterEach()

/** `node dist/main.js pair CODE` with the given environment. */
const pair = (code: string, env: Record<string, string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [MAIN, "pair", code], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr }))
  })

const codeIn = (text: string) => /pairing code is ([A-Z0-9]{6})/.exec(text)?.[1]

describe("access, closed by default", () => {
  it("an unknown sender gets a pairing code and reaches nothing until `pair CODE` or the MCP tool approves; chat never sees a URL", async () => {
    const emulator = await startDingTalkEmulator()
    const opencode = await startFakeOpenCode()
    onCleanup(() => emulator.close(), () => opencode.close())
    const stateDir = mkdtempSync(path.join(tmpdir(), "access-state-"))
    const credentials = { DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, BRIDGE_STATE_DIR: stateDir }
    const server = spawnMain({ ...credentials, DINGTALK_API_URL: emulator.url, OPENCODE_SERVER_URL: opencode.url, DINGTALK_RECONNECT_BASE_MS: "200" })
    onCleanup(() => server.kill())
    await server.initialize()
    await emulator.waitForConnections(1, 10_000)
    expect(server.stderr()).toMatch(/Access: pairing/)

    // 1. An unknown sender: a code, nothing reaches OpenCode, the conversation is not offered to the tools.
    emulator.pushMessage({ text: "run `id` please", conversationId: "cid-li", senderStaffId: "li", senderNick: "Li Lei" })
    const [notice] = await emulator.waitForReplies(1, { conversationId: "cid-li", timeoutMs: 10_000 })
    const code = codeIn(notice!.text)!
    expect(code).toMatch(/^[A-Z0-9]{6}$/)
    expect(opencode.prompts).toHaveLength(0)
    expect((await server.callTool("dingtalk_list_conversations")).structuredContent.conversations).toEqual([])
    const stats = (await server.callTool("dingtalk_get_stats")).structuredContent
    expect(stats.access.mode).toBe("pairing")
    expect(stats.access.pending.map((p: { code: string }) => p.code)).toEqual([code])

    // 2. The operator approves it with the CLI while the bridge runs; a wrong code is refused.
    const wrong = await pair("ZZZZZZ", credentials)
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/unknown or expired/i)
    const approved = await pair(code, credentials)
    expect(approved).toMatchObject({ code: 0, stderr: "" })
    expect(approved.stdout.trim().split("\n")).toHaveLength(1)
    expect(approved.stdout).toMatch(/Approved Li Lei \(li\)/)
    // The bridge notices the approval made by the other process and tells the sender.
    expect((await emulator.waitForReplies(2, { conversationId: "cid-li", timeoutMs: 10_000 }))[1]!.text).toMatch(/You are approved/)
    emulator.pushMessage({ text: "hello again", conversationId: "cid-li", senderStaffId: "li" })
    const answers = await emulator.waitForReplies(3, { conversationId: "cid-li", timeoutMs: 10_000 })
    expect(answers[2]!.text).toBe("ECHO: hello again")
    expect((await server.callTool("dingtalk_list_conversations")).structuredContent.conversations.map((c: { conversationId: string }) => c.conversationId)).toEqual(["cid-li"])

    // 3. The MCP tool approves too.
    emulator.pushMessage({ text: "me too", conversationId: "cid-mei", senderStaffId: "mei", senderNick: "Han Meimei" })
    const [meiNotice] = await emulator.waitForReplies(1, { conversationId: "cid-mei", timeoutMs: 10_000 })
    const viaTool = await server.callTool("dingtalk_approve_pairing", { code: codeIn(meiNotice!.text)! })
    expect(viaTool.isError).toBeFalsy()
    expect(viaTool.content[0]!.text).toMatch(/Approved Han Meimei/)
    expect((await server.callTool("dingtalk_approve_pairing", { code: "ABCDEF" })).isError).toBe(true)
    expect((await emulator.waitForReplies(2, { conversationId: "cid-mei", timeoutMs: 10_000 }))[1]!.text).toMatch(/You are approved/)
    emulator.pushMessage({ text: "thanks", conversationId: "cid-mei", senderStaffId: "mei" })
    expect((await emulator.waitForReplies(3, { conversationId: "cid-mei", timeoutMs: 10_000 }))[2]!.text).toBe("ECHO: thanks")

    // 4. Without DINGTALK_CLIENT_ID the CLI finds the code among the robots in the state dir.
    emulator.pushMessage({ text: "hi", conversationId: "cid-wu", senderStaffId: "wu" })
    const [wuNotice] = await emulator.waitForReplies(1, { conversationId: "cid-wu", timeoutMs: 10_000 })
    expect((await pair(codeIn(wuNotice!.text)!, { BRIDGE_STATE_DIR: stateDir })).code).toBe(0)
    expect((await emulator.waitForReplies(2, { conversationId: "cid-wu", timeoutMs: 10_000 }))[1]!.text).toMatch(/You are approved/)

    // 5. Chat sees no internals: /status and an OpenCode failure carry no URL.
    emulator.pushMessage({ text: "/status", conversationId: "cid-li", senderStaffId: "li" })
    const status = (await emulator.waitForReplies(4, { conversationId: "cid-li", timeoutMs: 10_000 }))[3]!
    expect(status.text).toMatch(/\*\*OpenCode:\*\* reachable/)
    expect(status.text).not.toMatch(/https?:|127\.0\.0\.1/)
    await opencode.close()
    emulator.pushMessage({ text: "are you there?", conversationId: "cid-li", senderStaffId: "li" })
    const failure = (await emulator.waitForReplies(5, { conversationId: "cid-li", timeoutMs: 10_000 }))[4]!
    expect(failure.text).toMatch(/OpenCode is not reachable right now; the operator can see details in the logs/)
    expect(failure.text).not.toMatch(/https?:|127\.0\.0\.1/)
    // The operator's log has the details (stderr arrives through its own pipe: give it a moment).
    const deadline = Date.now() + 5_000
    while (!server.stderr().includes(opencode.url) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(server.stderr()).toContain(opencode.url)

    server.child.stdin!.end()
    expect((await server.exited).code).toBe(0)
    expect(onlyJsonRpc(server.stdoutLines)).toBe(true)
    expect(server.stderr()).not.toContain(emulator.clientSecret)
  }, 60_000)
})
