/**
 * A real `opencode serve` (from the `opencode-ai` devDependency) for end-to-end tests: offline, in a
 * temp dir with an isolated home, talking to the fake OpenAI-compatible model.
 */
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "./resources.js"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const OPENCODE = path.join(ROOT, "node_modules", ".bin", "opencode")

/** A running OpenCode server. */
export interface RealOpenCode {
  readonly url: string
  readonly dir: string
  /** Its stdout and stderr so far, for failure messages. */
  logs(): string
  /** Stops the server and starts it again on the same port and directory (its sessions are kept on disk). */
  restart(): Promise<void>
  stop(): Promise<void>
}


/** PATH without this project's node_modules/.bin: `node` is then the system Node, as for a user. */
export const systemPath = () => (process.env.PATH ?? "").split(path.delimiter).filter((dir) => !dir.includes("node_modules")).join(path.delimiter)

/** Starts OpenCode with the fake model as its only provider; resolves once its API answers. */
export const startRealOpenCode = async (options: {
  readonly modelUrl: string
  /** The `mcp` section, given the URL the server will have (its MCP servers may call back into it). */
  readonly mcp?: (opencodeUrl: string) => Record<string, unknown>
  readonly password?: string
  /** OpenCode's `permission` section; default: allow everything (tool calls never wait for a person). */
  readonly permission?: Record<string, unknown>
  /** More models of the fake provider besides `echo` (same fake model server). */
  readonly extraModels?: ReadonlyArray<string>
  /** The fake model declares image input (`modalities.input` incl. "image"), so OpenCode passes pictures to it. */
  readonly imageInput?: boolean
}): Promise<RealOpenCode> => {
  const dir = mkdtempSync(path.join(tmpdir(), "opencode-e2e-"))
  const home = (name: string) => {
    const folder = path.join(dir, name)
    mkdirSync(folder)
    return folder
  }
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  writeFileSync(path.join(dir, "opencode.json"), JSON.stringify({
    $schema: "https://opencode.ai/config.json",
    provider: {
      fake: { npm: "@ai-sdk/openai-compatible", name: "fake", options: { baseURL: options.modelUrl, apiKey: "x" }, models: {
        echo: { name: "echo", tool_call: true, ...(options.imageInput === true ? { attachment: true, modalities: { input: ["text", "image"], output: ["text"] } } : {}) },
        ...Object.fromEntries((options.extraModels ?? []).map((id) => [id, { name: id, tool_call: true }])),
      } },
    },
    model: "fake/echo",
    small_model: "fake/echo",
    autoupdate: false,
    share: "disabled",
    // Tool calls must not wait for a person to approve them.
    permission: options.permission ?? { "*": "allow" },
    ...(options.mcp === undefined ? {} : { mcp: options.mcp(url) }),
  }))
  const env = {
    PATH: systemPath(),
    HOME: home("home"),
    XDG_CONFIG_HOME: home("config"),
    XDG_DATA_HOME: home("data"),
    XDG_STATE_HOME: home("state"),
    XDG_CACHE_HOME: home("cache"),
    ...(options.password === undefined ? {} : { OPENCODE_SERVER_PASSWORD: options.password }),
  }
  let logs = ""
  const launch = () => {
    const child = spawn(OPENCODE, ["serve", "--port", String(port), "--hostname", "127.0.0.1"], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] })
    child.stdout.on("data", (chunk) => (logs += chunk))
    child.stderr.on("data", (chunk) => (logs += chunk))
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
    return { child, exited }
  }
  let running = launch()
  const headers: Record<string, string> = options.password === undefined ? {} : { authorization: `Basic ${Buffer.from(`opencode:${options.password}`).toString("base64")}` }
  const ready = async () => {
    const { child } = running
    const deadline = Date.now() + 60_000
    for (;;) {
      try {
        // The first requests can hang while it initialises: always with a timeout.
        const response = await fetch(`${url}/session`, { headers, signal: AbortSignal.timeout(2_000) })
        if (response.ok) break
      } catch {
        // not up yet
      }
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill("SIGKILL")
        throw new Error(`opencode serve did not start:\n${logs}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  await ready()
  const kill = async () => {
    running.child.kill("SIGTERM")
    const timer = setTimeout(() => running.child.kill("SIGKILL"), 3_000)
    await running.exited
    clearTimeout(timer)
  }
  return {
    url,
    dir,
    logs: () => logs,
    restart: async () => {
      await kill()
      running = launch()
      await ready()
    },
    stop: async () => {
      await kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
