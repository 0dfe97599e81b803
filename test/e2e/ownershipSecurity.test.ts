// The ownership socket as a door: hostile peers, a follower configured differently, the state directory's mode.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs"
import net from "node:net"
import { tmpdir } from "node:os"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { socketPathFor } from "../../src/core/StateDir.js"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { spawnMain } from "../support/mcpProcess.js"
import { cleanupAfterEach } from "../support/resources.js"

const onCleanup = cleanupAfterEach()
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Resident memory of a process in MB, from /proc. */
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024

const setup = async (stateDir = mkdtempSync(path.join(tmpdir(), "dingtalk-state-"))) => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode()
  onCleanup(() => emulator.close(), () => opencode.close())
  const env = {
    DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
    OPENCODE_SERVER_URL: opencode.url, DINGTALK_RECONNECT_BASE_MS: "200", BRIDGE_STATE_DIR: stateDir,
  }
  const start = async (extra: Record<string, string> = {}) => {
    const server = spawnMain({ ...env, ...extra })
    onCleanup(() => server.kill())
    await server.initialize()
    return server
  }
  return { emulator, stateDir, start, socketPath: socketPathFor(stateDir, emulator.clientId) }
}

/** Connects to the ownership socket, writes `data`, and resolves when the owner closes it (or after `ms`). */
const sendRaw = (socketPath: string, data: Buffer | string, ms = 3_000) =>
  new Promise<"closed by owner" | "still open">((resolve, reject) => {
    const socket = net.connect(socketPath)
    const timer = setTimeout(() => {
      socket.destroy()
      resolve("still open")
    }, ms)
    let connected = false
    // A reset while we are still writing is the owner dropping us too.
    socket.on("error", (error) => connected ? undefined : reject(error))
    socket.on("close", () => {
      clearTimeout(timer)
      resolve("closed by owner")
    })
    socket.once("connect", () => {
      connected = true
      socket.write(data)
    })
  })

describe("the ownership socket as a door", () => {
  it("`null\\n`, garbage and a 10 MB line leave the owner running, within 50 MB of its RSS", async () => {
    const { emulator, start, socketPath } = await setup()
    const owner = await start({ DINGTALK_ACCESS: "open" })
    await emulator.waitForConnections(1, 10_000)
    await settle(500)
    const before = rssMb(owner.child.pid!)

    expect(await sendRaw(socketPath, "null\n", 500)).toBe("still open")
    expect(await sendRaw(socketPath, '{"type":"call","id":"x"}\n[]\n"\\u0000"\n{"type":"hello"}\n\n', 500)).toBe("still open")
    // Ten times the line cap, no newline: the owner drops this peer instead of buffering it.
    expect(await sendRaw(socketPath, Buffer.alloc(10 * 1024 * 1024, 0x61))).toBe("closed by owner")

    await settle(300)
    expect(owner.child.exitCode).toBeNull()
    expect(rssMb(owner.child.pid!) - before).toBeLessThan(50)
    emulator.pushMessage({ text: "still owning?", conversationId: "cid-after-garbage" })
    const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-after-garbage", timeoutMs: 10_000 })
    expect(reply!.text).toBe("ECHO: still owning?")
    expect(owner.stderr()).toMatch(/Dropped a peer of the ownership socket: it sent a line over 1048576 bytes/)
  }, 30_000)

  it("a process with another access policy refuses to take over when the owner is killed, and says why", async () => {
    const { emulator, start } = await setup()
    const owner = await start({ DINGTALK_ACCESS: "allowlist", DINGTALK_ALLOWED_USERS: "boss" })
    await emulator.waitForConnections(1, 10_000)
    // As launched from a README snippet without the allowlist.
    const follower = await start()
    await settle(1_000)
    expect(follower.stderr()).toMatch(/access policy \(DINGTALK_ACCESS=pairing, 0 allowed user\(s\).*\) differs from that of the process that owns.*DINGTALK_ACCESS=allowlist, 1 allowed user\(s\)/)
    expect(owner.stderr()).toMatch(/runs with another access policy/)
    // While the owner lives, the follower's tool calls are still forwarded.
    expect((await follower.callTool("dingtalk_get_stats")).structuredContent.owner.pid).toBe(owner.child.pid)

    owner.child.kill("SIGKILL")
    await owner.exited
    await settle(3_000)
    expect(emulator.totalConnections).toBe(1)
    expect(emulator.openConnections()).toHaveLength(0)
    expect(follower.child.exitCode, follower.stderr()).toBeNull()
    expect(follower.stderr()).toMatch(/not taking over/)
    const answer = await follower.callTool("dingtalk_list_conversations")
    expect(answer.isError).toBe(true)
    expect(answer.content[0]!.text).toMatch(/will not take the robot over/)

    // An instance with the owner's policy may take over (and the refusing one follows it).
    const same = await start({ DINGTALK_ACCESS: "allowlist", DINGTALK_ALLOWED_USERS: "boss" })
    await emulator.waitForNewConnection(1, 10_000)
    expect((await same.callTool("dingtalk_get_stats")).structuredContent.owner.pid).toBe(same.child.pid)
  }, 40_000)

  it("an existing state directory open to everyone is tightened to 0700", async () => {
    const stateDir = path.join(mkdtempSync(path.join(tmpdir(), "dingtalk-state-")), "shared")
    mkdirSync(stateDir)
    chmodSync(stateDir, 0o777)
    const { emulator, start } = await setup(stateDir)
    await start({ DINGTALK_ACCESS: "open" })
    await emulator.waitForConnections(1, 10_000)
    expect(statSync(stateDir).mode & 0o777).toBe(0o700)
  }, 20_000)

  it("an unusable state directory stops the start with one line on stderr and exit code 2", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "dingtalk-state-")), "a-file")
    writeFileSync(file, "")
    const server = spawnMain({ DINGTALK_CLIENT_ID: "id", DINGTALK_CLIENT_SECRET: "secret", DINGTALK_API_URL: "http://127.0.0.1:9", BRIDGE_STATE_DIR: path.join(file, "state") })
    onCleanup(() => server.kill())
    expect((await server.exited).code).toBe(2)
    expect(server.stderr().trim().split("\n")).toEqual([
      `State directory ${path.join(file, "state")} is unusable (ENOTDIR). Set BRIDGE_STATE_DIR to a directory this user can write.`,
    ])
  }, 20_000)
})
