// Hostile gateway frames against the process as users run it.
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { expect, it } from "vitest"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { spawnMain } from "../support/mcpProcess.js"
import { cleanupAfterEach } from "../support/resources.js"

const onCleanup = cleanupAfterEach()

it("a deeply nested CALLBACK frame without messageId is counted malformed and `node dist/main.js` keeps running", async () => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode()
  onCleanup(() => emulator.close(), () => opencode.close())
  const server = spawnMain({
    DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
    OPENCODE_SERVER_URL: opencode.url, DINGTALK_ACCESS: "open", BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), "frames-state-")),
  })
  onCleanup(() => server.kill())
  await server.initialize()
  await emulator.waitForConnections(1, 10_000)
  const levels = 100_000
  emulator.pushFrame(`{"type":"CALLBACK","headers":{"topic":"/v1.0/im/bot/messages/get"},"data":${"[".repeat(levels)}${"]".repeat(levels)}}`)
  emulator.pushMessage({ text: "after the deep frame", conversationId: "cid-deep" })
  const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-deep", timeoutMs: 10_000 })
  expect(reply!.text).toBe("ECHO: after the deep frame")
  expect((await server.callTool("dingtalk_get_stats")).structuredContent.messages.malformed).toBe(1)
  expect(server.child.exitCode).toBeNull()
  expect(emulator.totalConnections).toBe(1)
}, 30_000)
