/**
 * `node dist/main.js` instances bridging the DingTalk emulator to the fake OpenCode, as users run them:
 * the environment they share, and a setup that starts as many instances on one state dir as a test wants.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { type DingTalkEmulator, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { type FakeOpenCode, type FakeOpenCodeOptions, startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { type McpProcess, spawnMain } from "./mcpProcess.js"
import { freePort } from "./resources.js"

/** The environment that connects an instance to `emulator` and `opencode`: open access, quick reconnects. */
export const bridgeEnv = (emulator: DingTalkEmulator, opencode: { readonly url: string }) => ({
  DINGTALK_CLIENT_ID: emulator.clientId,
  DINGTALK_CLIENT_SECRET: emulator.clientSecret,
  DINGTALK_API_URL: emulator.url,
  OPENCODE_SERVER_URL: opencode.url,
  DINGTALK_RECONNECT_BASE_MS: "200",
  DINGTALK_ACCESS: "open",
})

/**
 * An emulator, a fake OpenCode and a fresh state dir (`statePrefix…`), all closed by `onCleanup`; `start()`
 * spawns one more initialized instance on them (killed by `onCleanup` too).
 */
export const setupInstances = async (
  onCleanup: (...cleanups: Array<() => unknown>) => void,
  statePrefix: string,
  opencodeOptions: FakeOpenCodeOptions = {}
) => {
  const emulator = await startDingTalkEmulator()
  const opencode: FakeOpenCode = await startFakeOpenCode(opencodeOptions)
  onCleanup(() => emulator.close(), () => opencode.close())
  const stateDir = mkdtempSync(path.join(tmpdir(), statePrefix))
  const env = { ...bridgeEnv(emulator, opencode), BRIDGE_STATE_DIR: stateDir }
  const start = async (): Promise<McpProcess> => {
    const server = spawnMain(env)
    onCleanup(() => server.kill())
    await server.initialize()
    return server
  }
  return { emulator, opencode, stateDir, start }
}

/**
 * A cluster runner (`node dist/main.js` with `BRIDGE_DATABASE_URL`) on `emulator` and `opencode`, with its
 * own state dir and runner port; initialized, and killed by `onCleanup`.
 */
export const startClusterRunner = async (
  onCleanup: (...cleanups: Array<() => unknown>) => void,
  emulator: DingTalkEmulator,
  opencode: { readonly url: string },
  databaseUrl: string,
  env: Record<string, string> = {}
): Promise<McpProcess> => {
  const server = spawnMain({
    ...bridgeEnv(emulator, opencode),
    // Each runner keeps its own DingTalk connection: no local single-owner election.
    BRIDGE_SINGLE_OWNER: "false",
    BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), "dingtalk-cluster-")),
    BRIDGE_DATABASE_URL: databaseUrl,
    BRIDGE_RUNNER_HOST: "127.0.0.1",
    BRIDGE_RUNNER_PORT: String(await freePort()),
    ...env,
  })
  onCleanup(() => server.kill())
  await server.initialize()
  return server
}
