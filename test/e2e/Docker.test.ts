/**
 * The Docker image: it builds, and its HEALTHCHECK turns healthy against the DingTalk emulator. Runs only
 * where a Docker engine answers (Debian's docker.io); elsewhere it is skipped and says so.
 */
import { execFile, execFileSync } from "node:child_process"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { cleanupAfterEach } from "../support/resources.js"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const run = promisify(execFile)
const dockerWorks = (() => {
  try {
    execFileSync("docker", ["info"], { stdio: "ignore", timeout: 10_000 })
    return true
  } catch {
    return false
  }
})()
if (!dockerWorks) console.warn("Docker image test skipped: no Docker engine answers `docker info` here (apt-get install docker.io, and a running dockerd)")

const onCleanup = cleanupAfterEach()

describe.skipIf(!dockerWorks)("the Docker image", () => {
  it("builds, and its healthcheck turns healthy against the emulator", async () => {
    const tag = `dingtalk-mcp-server:test-${process.pid}`
    await run("docker", ["build", "-t", tag, "."], { cwd: ROOT, maxBuffer: 50_000_000, timeout: 600_000 })
    onCleanup(() => run("docker", ["rmi", "-f", tag]).then(() => undefined, () => undefined))
    const emulator = await startDingTalkEmulator()
    onCleanup(() => emulator.close())
    const name = `dingtalk-test-${process.pid}`
    await run("docker", ["run", "-d", "--name", name, "--network", "host",
      "-e", `DINGTALK_CLIENT_ID=${emulator.clientId}`, "-e", `DINGTALK_CLIENT_SECRET=${emulator.clientSecret}`,
      "-e", `DINGTALK_API_URL=${emulator.url}`, "--health-interval", "1s", "--health-start-period", "1s", tag])
    onCleanup(() => run("docker", ["rm", "-f", name]).then(() => undefined, () => undefined))
    const deadline = Date.now() + 60_000
    let health = ""
    while (Date.now() < deadline && health !== "healthy") {
      health = (await run("docker", ["inspect", "--format", "{{.State.Health.Status}}", name])).stdout.trim()
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
    expect(health).toBe("healthy")
    expect(emulator.openConnections().length).toBe(1)
    const user = (await run("docker", ["exec", name, "id", "-u"])).stdout.trim()
    expect(user).not.toBe("0")
  }, 700_000)
})
