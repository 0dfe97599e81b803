/**
 * The sandbox chat page as the browser tests use it: `node dist/main.js` without DingTalk credentials,
 * waited on until it announces its page, and the headless Chromium that drives it.
 */
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { chromium } from "playwright-core"
import { type McpProcess, spawnMain } from "./mcpProcess.js"
import { waitUntil } from "./waitUntil.js"

/** The Chromium the page tests drive (`CHROMIUM_PATH`); the tests are skipped when it is missing. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
/** Whether there is a Chromium to drive. */
export const haveChromium = existsSync(CHROMIUM)

/** Flags for a headless Chromium in a container (no sandbox, no GPU, quiet on the network). */
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

/** Launches the headless Chromium, with `extraArgs` after the usual flags. */
export const launchChromium = (extraArgs: ReadonlyArray<string> = []) => chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] })

/**
 * Spawns the sandbox (no credentials) against `opencodeUrl`, its page on `port`, its state in a fresh temp dir
 * named `statePrefix…`. `env` defaults to an English page (the tests find its elements by their English labels);
 * pass `{}` for the built-in default language (zh-CN).
 */
export const spawnSandbox = (opencodeUrl: string, port: number, statePrefix: string, env: Record<string, string> = { BRIDGE_LANGUAGE: "en" }): McpProcess =>
  spawnMain({ OPENCODE_SERVER_URL: opencodeUrl, SANDBOX_PORT: String(port), BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), statePrefix)), ...env })

/** Initializes MCP on `server`, then waits until it has announced its chat page on `port`. */
export const waitForChatPage = async (server: McpProcess, port: number) => {
  await server.initialize()
  await waitUntil("the chat page", () => server.stderr().includes(`http://127.0.0.1:${port}`), {
    timeoutMs: 10_000,
    everyMs: 50,
    onTimeout: () => `no chat page announced:\n${server.stderr()}`,
  })
}
