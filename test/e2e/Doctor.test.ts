/**
 * `dingtalk-mcp-server doctor` run as a user runs it (`node dist/main.js doctor`), against the DingTalk
 * emulator and a fake OpenCode: all checks pass on a good set-up, and each set-up mistake fails with its own
 * line and exit code.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { spawnMain } from "../support/mcpProcess.js"
import { cleanupAfterEach, freePort } from "../support/resources.js"

const onCleanup = cleanupAfterEach()

const setUp = async (options: { password?: string } = {}) => {
  const emulator = await startDingTalkEmulator()
  onCleanup(() => emulator.close())
  const opencode = await startFakeOpenCode(options.password === undefined ? {} : { auth: { password: options.password } })
  onCleanup(() => opencode.close())
  const env = {
    DINGTALK_CLIENT_ID: emulator.clientId,
    DINGTALK_CLIENT_SECRET: emulator.clientSecret,
    DINGTALK_API_URL: emulator.url,
    OPENCODE_SERVER_URL: opencode.url,
    BRIDGE_STATE_DIR: path.join(mkdtempSync(path.join(tmpdir(), "doctor-")), "state"),
  }
  return { emulator, opencode, env }
}

const doctor = async (env: Record<string, string>) => {
  const run = spawnMain(env, { args: ["doctor"] })
  onCleanup(() => run.kill())
  const { code } = await run.exited
  return { code, out: run.stdoutLines.join("\n"), err: run.stderr() }
}

describe("doctor", () => {
  it("passes every check against the emulator and a reachable OpenCode", async () => {
    const { env, opencode } = await setUp()
    const { code, out } = await doctor(env)
    expect(out).toMatch(/✔ Credentials/)
    expect(out).toMatch(/✔ Stream connection/)
    expect(out).toMatch(/✔ Card permission +granted/)
    expect(out).toMatch(/✔ OpenCode +reachable, credentials accepted, fake/)
    expect(out).toMatch(/✔ OpenCode model/)
    expect(out).toMatch(/✔ MCP over stdio/)
    expect(out).toMatch(/✔ State directory .*\(mode 700, writable\)/)
    expect(out).toMatch(/All checks passed/)
    expect(code).toBe(0)
    // The model check cleans up after itself.
    expect(opencode.sessions).toHaveLength(0)
  })

  it("fails on wrong credentials with its own line and exit code 4", async () => {
    const { env } = await setUp()
    const { code, out } = await doctor({ ...env, DINGTALK_CLIENT_SECRET: "wrong" })
    expect(out).toMatch(/✘ Credentials/)
    expect(out).toMatch(/→ Copy the AppKey and AppSecret/)
    expect(out).toMatch(/- Stream connection +needs valid credentials/)
    expect(code).toBe(4)
  })

  it("tells a missing card permission (a 403 on the dry card call) with exit code 6, and skips it with cards off", async () => {
    const { env, emulator } = await setUp()
    emulator.failCard({ kind: "instances", status: 403, times: 1 })
    const denied = await doctor(env)
    expect(denied.out).toMatch(/✘ Card permission +the app may not write AI cards/)
    expect(denied.out).toMatch(/Card\.Instance\.Write/)
    expect(denied.code).toBe(6)
    const off = await doctor({ ...env, DINGTALK_CARDS: "off" })
    expect(off.out).toMatch(/- Card permission +DINGTALK_CARDS=off/)
    expect(off.code).toBe(0)
  })

  it("fails on an unreachable OpenCode with exit code 7", async () => {
    const { env } = await setUp()
    const { code, out } = await doctor({ ...env, OPENCODE_SERVER_URL: `http://127.0.0.1:${await freePort()}` })
    expect(out).toMatch(/✘ OpenCode +not reachable/)
    expect(out).toMatch(/opencode serve/)
    expect(code).toBe(7)
  })

  it("fails on a wrong OpenCode password with exit code 8", async () => {
    const { env } = await setUp({ password: "right" })
    const { code, out } = await doctor({ ...env, OPENCODE_SERVER_PASSWORD: "wrong" })
    expect(out).toMatch(/✘ OpenCode +the server refused the credentials/)
    expect(out).not.toMatch(/wrong/)
    expect(code).toBe(8)
  })

  it("fails on a configuration error with exit code 3 and stops there", async () => {
    const { env } = await setUp()
    const { code, out } = await doctor({ ...env, BRIDGE_CONCURRENCY: "lots" })
    expect(out).toMatch(/✘ Configuration .*BRIDGE_CONCURRENCY/)
    expect(out).not.toMatch(/Credentials/)
    expect(code).toBe(3)
  })
})
