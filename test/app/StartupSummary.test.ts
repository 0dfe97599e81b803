import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { startupSummary } from "../../src/app/StartupSummary.js"
import { BridgeConfigSchema } from "../../src/core/BridgeConfig.js"
import { VERSION } from "../../src/core/Version.js"

const settingsFrom = (env: Record<string, string>) => BridgeConfigSchema.parse(ConfigProvider.fromUnknown({ DINGTALK_CLIENT_ID: "ding-robot", DINGTALK_CLIENT_SECRET: "s", ...env }))

describe("start-up summary", () => {
  it.effect("names the mode, robot, OpenCode (without its credentials), access, MCP transports and cards", () =>
    Effect.gen(function*() {
      const line = startupSummary(yield* settingsFrom({ OPENCODE_SERVER_URL: "http://me:hunter2@10.1.2.3:4096", MCP_HTTP_PORT: "8787", DINGTALK_CARDS: "off" }), false)
      assert.strictEqual(line, `dingtalk-mcp-server ${VERSION}: bridge, robot ding-robot, OpenCode http://10.1.2.3:4096, access pairing, MCP stdio + http://127.0.0.1:8787/mcp, cards off, chat language zh-CN`)
      assert.notInclude(line, "hunter2")
      assert.include(startupSummary(yield* settingsFrom({ DINGTALK_ACCESS: "open" }), true), "sandbox (local emulator)")
    }))
})
