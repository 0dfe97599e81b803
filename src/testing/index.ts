/**
 * The deterministic test harness (`dingtalk-mcp-server/testing`): a DingTalk emulator that speaks the
 * real Stream protocol, a fake OpenCode server, and a fake OpenAI-compatible model for running a real
 * `opencode serve` offline — all on 127.0.0.1 with a free port.
 */
export * from "../emulator/DingTalkEmulator.js"
export * from "./FakeModel.js"
export * from "./FakeOpenCode.js"
