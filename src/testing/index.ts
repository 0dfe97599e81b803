/**
 * The deterministic test harness (`dingtalk-mcp-server/testing`): a DingTalk emulator that speaks the
 * real Stream protocol and a fake OpenCode server, both on 127.0.0.1 with a free port.
 */
export * from "./DingTalkEmulator.js"
export * from "./FakeOpenCode.js"
