import { readdirSync, writeFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { socketPathFor } from "../../src/core/StateDir.js"
import { setupInstances } from "../support/bridgeInstances.js"
import { type McpProcess } from "../support/mcpProcess.js"
import { cleanupAfterEach } from "../support/resources.js"

const onCleanup = cleanupAfterEach()

const setup = () => setupInstances(onCleanup, "dingtalk-state-")

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const structured = async (server: McpProcess, tool: string, args: Record<string, unknown> = {}) => (await server.callTool(tool, args)).structuredContent

describe("one robot, one owner", () => {
  it("a second instance forwards to the first: one DingTalk connection, the same conversations, sends work from both", async () => {
    const { emulator, start } = await setup()
    const a = await start()
    await emulator.waitForConnections(1, 10_000)
    const b = await start()
    await settle(1_000)
    expect(emulator.totalConnections).toBe(1)

    emulator.pushMessage({ text: "hello owner", conversationId: "cid-shared" })
    await emulator.waitForReplies(1, { conversationId: "cid-shared", timeoutMs: 10_000 })
    const listed = await structured(b, "dingtalk_list_conversations")
    expect(listed.conversations.map((c: { conversationId: string }) => c.conversationId)).toEqual(["cid-shared"])

    const sent = await b.callTool("dingtalk_send_message", { conversationId: "cid-shared", message: "from the second instance" })
    expect(sent.isError).toBeFalsy()
    const replies = await emulator.waitForReplies(2, { conversationId: "cid-shared" })
    expect(replies[1]!.text).toBe("from the second instance")

    expect((await structured(b, "dingtalk_get_stats")).owner.pid).toBe(a.child.pid)
    expect((await structured(a, "dingtalk_get_stats")).owner.pid).toBe(a.child.pid)
  }, 30_000)

  it("when the owner is killed, the other instance takes over within 10 s and answers the next message", async () => {
    const { emulator, start } = await setup()
    const a = await start()
    await emulator.waitForConnections(1, 10_000)
    const b = await start()
    await settle(500)
    const killedAt = Date.now()
    a.child.kill("SIGKILL")
    await emulator.waitForNewConnection(1, 10_000)
    expect(Date.now() - killedAt).toBeLessThan(10_000)
    emulator.pushMessage({ text: "still there?", conversationId: "cid-failover" })
    const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-failover", timeoutMs: 10_000 })
    expect(reply!.text).toBe("ECHO: still there?")
    expect((await structured(b, "dingtalk_get_stats")).owner.pid).toBe(b.child.pid)
  }, 30_000)

  it("a stale state file from a dead process is ignored", async () => {
    const { emulator, stateDir, start } = await setup()
    // The failover test covers a SIGKILLed owner's socket; here a leftover plain file sits in its place.
    const socketPath = socketPathFor(stateDir, emulator.clientId)
    writeFileSync(socketPath, "")
    const a = await start()
    await emulator.waitForConnections(1, 10_000)
    expect((await structured(a, "dingtalk_get_stats")).owner.pid).toBe(a.child.pid)
  }, 20_000)

  it("a restarted bridge still knows its conversations and can write to them", async () => {
    const { emulator, stateDir, start } = await setup()
    const a = await start()
    await emulator.waitForConnections(1, 10_000)
    emulator.pushMessage({ text: "remember me", conversationId: "cid-remembered" })
    await emulator.waitForReplies(1, { conversationId: "cid-remembered", timeoutMs: 10_000 })
    a.child.kill("SIGTERM")
    await a.exited
    expect(readdirSync(stateDir).some((name) => name.endsWith(".conversations"))).toBe(true)

    const b = await start()
    await emulator.waitForNewConnection(1, 10_000)
    const listed = await structured(b, "dingtalk_list_conversations")
    expect(listed.conversations.map((c: { conversationId: string }) => c.conversationId)).toEqual(["cid-remembered"])
    const sent = await b.callTool("dingtalk_send_message", { conversationId: "cid-remembered", message: "back after a restart" })
    expect(sent.isError).toBeFalsy()
    expect((await emulator.waitForReplies(2, { conversationId: "cid-remembered" }))[1]!.text).toBe("back after a restart")
  }, 30_000)
})
