/**
 * Spawns `dist/main.js` as OpenCode would, speaks newline-delimited JSON-RPC to it, and keeps every
 * stdout line so tests can assert that stdout carried JSON-RPC only.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"

/** Absolute path of the built entry point. */
export const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/main.js")

/** A running server process. */
export interface McpProcess {
  readonly child: ChildProcess
  readonly stdoutLines: Array<string>
  stderr: () => string
  request: (method: string, params?: unknown, timeoutMs?: number) => Promise<{ result?: any; error?: any }>
  notify: (method: string, params?: unknown) => void
  initialize: () => Promise<any>
  callTool: (name: string, args?: Record<string, unknown>) => Promise<{ isError?: boolean; content: Array<{ text: string }>; structuredContent?: any }>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  kill: () => void
}

/** Starts `node dist/main.js` in an empty temp dir (or `cwd`) with exactly the given environment, plus CLI `args`. */
export const spawnMain = (env: Record<string, string>, options: { node?: string; cwd?: string; args?: ReadonlyArray<string> } = {}): McpProcess => {
  const cwd = options.cwd ?? mkdtempSync(path.join(tmpdir(), "dingtalk-mcp-"))
  const child = spawn(options.node ?? process.execPath, [MAIN, ...(options.args ?? [])], {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: cwd, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  })
  const stdoutLines: Array<string> = []
  let stderr = ""
  let buffer = ""
  const pending = new Map<number, (message: any) => void>()
  child.stderr!.on("data", (chunk) => {
    stderr += chunk
  })
  child.stdout!.on("data", (chunk) => {
    buffer += chunk
    let newline
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      stdoutLines.push(line)
      try {
        const message = JSON.parse(line)
        if (message.id !== undefined && pending.has(message.id)) {
          pending.get(message.id)!(message)
          pending.delete(message.id)
        }
      } catch {
        // kept in stdoutLines; the test asserts on it
      }
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })))
  let nextId = 1
  const request = (method: string, params: unknown = {}, timeoutMs = 10_000) => {
    const id = nextId++
    child.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`)
    return new Promise<{ result?: any; error?: any }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method}: no answer in ${timeoutMs} ms; stderr:\n${stderr.slice(-2000)}`)), timeoutMs)
      pending.set(id, (message) => {
        clearTimeout(timer)
        resolve(message)
      })
    })
  }
  const notify = (method: string, params: unknown = {}) => child.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", method, params })}\n`)
  return {
    child,
    stdoutLines,
    stderr: () => stderr,
    request,
    notify,
    initialize: async () => {
      const answer = await request("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "test", version: "1" } })
      notify("notifications/initialized")
      return answer.result
    },
    callTool: async (name, args = {}) => (await request("tools/call", { name, arguments: args }, 30_000)).result,
    exited,
    kill: () => child.kill("SIGKILL"),
  }
}

/** True when every stdout line is a JSON-RPC 2.0 message. */
export const onlyJsonRpc = (lines: ReadonlyArray<string>): boolean =>
  lines.filter((line) => line.trim() !== "").every((line) => {
    try {
      return JSON.parse(line).jsonrpc === "2.0"
    } catch {
      return false
    }
  })

/** The first `node` on PATH that is not this project's pinned one (the "system Node"). */
export const systemNode = (): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir.includes("node_modules")) continue
    const candidate = path.join(dir, "node")
    try {
      if (existsSync(candidate)) return candidate
    } catch {
      // not there
    }
  }
  return undefined
}



