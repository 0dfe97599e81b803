/**
 * `node dist/main.js` with the machine's Node (20 here) runs the bridge in that one process. Killing it
 * (SIGKILL, as a supervisor does to a hung server) must leave no bridge process behind holding the
 * DingTalk connection and the ownership socket, and another instance must take over.
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { bridgeEnv } from "../support/bridgeInstances.js"
import { MAIN, spawnMain, systemNode } from "../support/mcpProcess.js"
import { cleanupAfterEach } from "../support/resources.js"
import { waitUntil } from "../support/waitUntil.js"

const onCleanup = cleanupAfterEach()
const node = systemNode()
const major = node === undefined ? 0 : Number(execFileSync(node, ["--version"]).toString().slice(1).split(".")[0])

const childrenOf = (pid: number): Array<number> => {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)]).toString().split("\n").map((l) => Number(l.trim())).filter((n) => n > 0)
  } catch {
    return [] // ps exits 1 when there are none
  }
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const waitFor = (what: string, check: () => boolean, timeoutMs: number) =>
  waitUntil(what, check, { timeoutMs, everyMs: 20, onTimeout: () => `timed out after ${timeoutMs} ms waiting for ${what}` })

describe.skipIf(node === undefined)("node dist/main.js with the machine's Node", () => {
  it("is one process: SIGKILL of it leaves no bridge process within 2 s, and a second instance takes over within 5 s", async () => {
    const emulator = await startDingTalkEmulator()
    const opencode = await startFakeOpenCode()
    onCleanup(() => emulator.close(), () => opencode.close())
    const env = { ...bridgeEnv(emulator, opencode), BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), "dingtalk-state-")) }
    // As under a supervisor: stdin is /dev/null, so the end of stdin cannot be what stops it.
    const a = spawn(node!, [MAIN], { cwd: tmpdir(), env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    a.stderr!.on("data", (chunk) => (stderr += chunk))
    onCleanup(() => a.kill("SIGKILL"))
    await emulator.waitForConnections(1, 10_000)
    // The process started is the bridge: nothing runs below it.
    expect(childrenOf(a.pid!)).toEqual([])
    if (major < 22) expect(stderr).toContain("past its end of life")

    const b = spawnMain(env, { node: node! })
    onCleanup(() => b.kill())
    await b.initialize()
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(emulator.totalConnections).toBe(1)

    const connectionsBefore = emulator.totalConnections
    const killedAt = Date.now()
    a.kill("SIGKILL")
    await waitFor("the killed bridge to end", () => !alive(a.pid!), 2_000)
    await emulator.waitForNewConnection(connectionsBefore, 5_000 - (Date.now() - killedAt)).catch((error) => {
      console.error(`oneProcess diagnostics: the second instance's log after the kill at ${new Date(killedAt).toISOString()}:\n${b.stderr().slice(-3_000)}`)
      throw error
    })
    expect(Date.now() - killedAt).toBeLessThan(5_000)

    emulator.pushMessage({ text: "who is there?", conversationId: "cid-launcher" })
    const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-launcher", timeoutMs: 10_000 })
    expect(reply!.text).toBe("ECHO: who is there?")
    const stats = (await b.callTool("dingtalk_get_stats")).structuredContent
    expect(stats.owner.pid).toBe(b.child.pid)
  }, 30_000)
})
