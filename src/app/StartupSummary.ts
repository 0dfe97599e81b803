/**
 * The one line a start prints on stderr: what runs, against what, and who may use it — so an operator can
 * tell at a glance that this is the set-up they meant.
 */
import { Option } from "effect"
import { type BridgeSettings, robotCodeOf } from "../core/BridgeConfig.js"
import { VERSION } from "../core/Version.js"

/** `dingtalk-mcp-server 0.1.0: bridge, robot ding…, OpenCode http://…, access pairing, MCP stdio + http://127.0.0.1:8787/mcp, …`. */
export const startupSummary = (settings: BridgeSettings, sandbox: boolean): string => {
  const mcp = Option.match(settings.mcpHttp.port, {
    onNone: () => "stdio",
    onSome: (port) => `stdio + http://${settings.mcpHttp.host}:${port}/mcp`,
  })
  const mode = sandbox
    ? "sandbox (local emulator)"
    : Option.isNone(settings.cluster.databaseUrl)
    ? "bridge"
    : settings.cluster.role === "client"
    ? "cluster client (MCP tools only, no DingTalk connection)"
    : "cluster runner"
  return [
    `dingtalk-mcp-server ${VERSION}: ${mode}`,
    `robot ${robotCodeOf(settings)}`,
    // The origin only: a URL may carry user:password.
    `OpenCode ${new URL(settings.opencode.serverUrl).origin}`,
    `access ${settings.access.mode}`,
    `MCP ${mcp}`,
    `cards ${settings.cards.enabled ? "on" : "off"}`,
    `chat language ${settings.chat.language}`,
  ].join(", ")
}
