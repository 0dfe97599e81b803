/**
 * Effect 4 needs Node ≥ 22, but OpenCode spawns `node dist/main.js` with whatever `node` is on PATH.
 * When that is older, re-execute this script with the project's pinned Node (the `node` devDependency),
 * passing stdio, the exit code and signals through. The child is tied to this launcher by an IPC
 * channel: when the launcher dies, even by SIGKILL, the channel closes and the child exits at once
 * (see `exitWithLauncher`), so no orphan keeps the DingTalk connection. No dependencies: this runs on old Node.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

const REQUIRED_MAJOR = 22
const RELAUNCHED = "DINGTALK_MCP_SERVER_RELAUNCHED"
/**
 * V8 settings for the relaunched child, measured with `npm run bench`: a small young generation and
 * GC on the main thread keep its RSS down (this launcher already costs ~40 MB), at no visible cost
 * in per-message overhead. Flags given to the launcher come after these, so they win.
 */
const CHILD_FLAGS = ["--max-semi-space-size=1", "--single-threaded-gc"]

/** The pinned Node binary: `node_modules/node/bin/node` in this package or any folder above it. */
const findPinnedNode = (from: string): string | undefined => {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", "node", "bin", "node")
    if (existsSync(candidate)) return candidate
    if (path.dirname(dir) === dir) return undefined
  }
}

/** Returns true when this process handed over to the pinned Node and must do nothing else. */
export const relaunchOnPinnedNode = (): boolean => {
  const major = Number(process.versions.node.split(".")[0])
  if (major >= REQUIRED_MAJOR) return false
  const pinned = process.env[RELAUNCHED] === undefined ? findPinnedNode(path.dirname(fileURLToPath(import.meta.url))) : undefined
  if (pinned === undefined) {
    process.stderr.write(
      `dingtalk-mcp-server needs Node ${REQUIRED_MAJOR} or newer (this is ${process.version}). ` +
        `Run "npm install" in the project folder (it installs a pinned Node 22), or install Node ${REQUIRED_MAJOR}+.\n`
    )
    process.exitCode = 1
    return true
  }
  const child = spawn(pinned, [...CHILD_FLAGS, ...process.execArgv, ...process.argv.slice(1)], {
    // fd 3 is the IPC channel: its end tells the child that this launcher is gone.
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...process.env, [RELAUNCHED]: "1" },
  })
  // The channel must not keep this launcher alive on its own; the child's exit ends it.
  child.channel?.unref()
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, forward(signal))
  child.on("error", (error) => {
    process.stderr.write(`dingtalk-mcp-server: cannot start ${pinned}: ${error.message}\n`)
    process.exit(1)
  })
  child.on("exit", (code, signal) => {
    if (signal !== null) {
      process.removeAllListeners(signal)
      process.kill(process.pid, signal)
    } else {
      process.exit(code ?? 1)
    }
  })
  return true
}

/**
 * In a child started by `relaunchOnPinnedNode`: exit when the launcher's IPC channel closes (the
 * launcher died, whatever the signal). SIGTERM first so the app releases the ownership socket and
 * flushes replies; a hard exit follows if that takes too long.
 */
export const exitWithLauncher = (graceMs = 800): void => {
  const relaunched = process.env[RELAUNCHED] !== undefined
  // Processes this one starts (OpenCode, its MCP servers) must check their own Node afresh.
  delete process.env[RELAUNCHED]
  if (!relaunched || process.channel === undefined) return
  // Only the disconnect matters; the channel itself must not hold the event loop open.
  process.channel.unref()
  process.once("disconnect", () => {
    setTimeout(() => process.exit(process.exitCode ?? 1), graceMs).unref()
    process.kill(process.pid, "SIGTERM")
  })
}
