/**
 * `dingtalk_send_file` through the in-process bridge and the DingTalk emulator: uploads and media
 * sends are recorded; paths outside the allowed folders, escaping symlinks and `../` names are refused.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import { Effect } from "effect"
import fs from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type DingTalkEmulator, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { localDispatch, makeMcpServer } from "../../src/mcp/McpServer.js"
import { type FakeOpenCode, startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { startBridge, testEnv } from "../support/bridge.js"

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

let emulator: DingTalkEmulator
let opencode: FakeOpenCode
let project: string
let outside: string

beforeAll(async () => {
  project = fs.mkdtempSync(path.join(tmpdir(), "send-file-project-"))
  outside = fs.mkdtempSync(path.join(tmpdir(), "send-file-outside-"))
  emulator = await startDingTalkEmulator({ pick: "last" })
  opencode = await startFakeOpenCode({ directory: project })
})

afterAll(async () => {
  await Promise.all([emulator?.close(), opencode?.close()])
  fs.rmSync(project, { recursive: true, force: true })
  fs.rmSync(outside, { recursive: true, force: true })
})

type CallResult = Awaited<ReturnType<Client["callTool"]>>
const textOf = (result: CallResult) => (result.content as Array<{ text: string }>)[0]!.text

/** A bridge with an MCP client on it; the conversations have talked to the robot, so it may write to them. */
const withClient = (body: (call: (args: Record<string, unknown>) => Promise<CallResult>) => Promise<void>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const before = emulator.totalConnections
    const context = yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_OAPI_URL: emulator.url }))
    yield* Effect.promise(() => emulator.waitForNewConnection(before, 10_000))
    const server = makeMcpServer(() => localDispatch(context))
    const client = new Client({ name: "test", version: "1" })
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    yield* Effect.promise(() => server.connect(serverSide))
    yield* Effect.acquireRelease(Effect.promise(() => client.connect(clientSide)), () => Effect.promise(() => client.close()))
    for (const conversationId of ["cid-files", "cid-group-files"]) {
      const seen = emulator.repliesFor(conversationId).length
      emulator.pushMessage({ conversationId, conversationType: conversationId === "cid-group-files" ? "2" : "1", text: "hi" })
      yield* Effect.promise(() => emulator.waitForReplies(seen + 1, { conversationId, timeoutMs: 10_000 }))
    }
    yield* Effect.promise(() => body((args) => client.callTool({ name: "dingtalk_send_file", arguments: args })))
  })))

describe("dingtalk_send_file", () => {
  it("sends a file from the project as a file message (upload + send recorded)", async () => {
    fs.mkdirSync(path.join(project, "build"), { recursive: true })
    fs.writeFileSync(path.join(project, "build", "out.log"), "line 1\nline 2\n")
    await withClient(async (call) => {
      const sends = emulator.mediaSends.length
      const result = await call({ conversationId: "cid-files", path: "build/out.log" })
      expect(result.isError).toBeFalsy()
      expect(textOf(result)).toMatch(/^Sent out\.log \(0\.0 KB\) to cid-files as a file via openapi\.$/)
      const [send] = await emulator.waitForMediaSends(sends + 1).then((all) => all.slice(sends))
      expect(send).toMatchObject({ route: "openapi-o2o", conversationId: "cid-files", kind: "file", fileName: "out.log" })
      expect(send!.upload).toMatchObject({ type: "file", fileName: "out.log" })
      expect(send!.upload!.data.toString()).toBe("line 1\nline 2\n")
      const group = await call({ conversationId: "cid-group-files", path: path.join(project, "build", "out.log") })
      expect(textOf(group)).toContain("via openapi")
      expect(emulator.mediaSends.at(-1)).toMatchObject({ route: "openapi-group", conversationId: "cid-group-files", kind: "file" })
    })
  }, 30_000)

  it("sends bytes as a picture: on the webhook while it lives, else through the OpenAPI", async () => {
    await withClient(async (call) => {
      const sends = emulator.mediaSends.length
      const result = await call({ conversationId: "cid-files", base64: PNG.toString("base64"), fileName: "chart.png" })
      expect(textOf(result)).toContain("as a picture via webhook")
      const [send] = (await emulator.waitForMediaSends(sends + 1)).slice(sends)
      expect(send).toMatchObject({ route: "webhook", kind: "image" })
      expect(send!.upload).toMatchObject({ type: "image", fileName: "chart.png", contentType: "image/png" })
      expect(send!.upload!.data.equals(PNG)).toBe(true)
      emulator.expireWebhook("cid-files")
      const late = await call({ conversationId: "cid-files", base64: PNG.toString("base64"), fileName: "chart.png" })
      expect(textOf(late)).toContain("via webhook then openapi")
      expect(emulator.mediaSends.at(-1)).toMatchObject({ route: "openapi-o2o", kind: "image" })
    })
  }, 30_000)

  it("refuses paths outside the allowed folders, symlinks that escape them, and ../ file names", async () => {
    fs.writeFileSync(path.join(outside, "secret.txt"), "secret")
    fs.symlinkSync(path.join(outside, "secret.txt"), path.join(project, "innocent.txt"))
    await withClient(async (call) => {
      const uploads = emulator.uploads.length
      const absolute = await call({ conversationId: "cid-files", path: path.join(outside, "secret.txt") })
      expect(absolute.isError).toBe(true)
      expect(textOf(absolute)).toMatch(/^Refused: .*secret\.txt is outside the folders files may be sent from/)
      const climbing = await call({ conversationId: "cid-files", path: "../../../../etc/passwd" })
      expect(climbing.isError).toBe(true)
      expect(textOf(climbing)).toContain("Refused")
      const symlink = await call({ conversationId: "cid-files", path: "innocent.txt" })
      expect(symlink.isError).toBe(true)
      expect(textOf(symlink)).toContain("is outside the folders")
      const named = await call({ conversationId: "cid-files", base64: Buffer.from("x").toString("base64"), fileName: "../evil.sh" })
      expect(named.isError).toBe(true)
      expect(textOf(named)).toContain("must be a plain file name")
      const both = await call({ conversationId: "cid-files", path: "build/out.log", base64: "eA==", fileName: "x.txt" })
      expect(textOf(both)).toContain("exactly one of")
      const unknown = await call({ conversationId: "cid-nobody", base64: "eA==", fileName: "x.txt" })
      expect(textOf(unknown)).toContain("dingtalk_list_conversations")
      expect(emulator.uploads.length).toBe(uploads)
      // A 1:1 chat with someone outside the organisation (no staff ID) cannot get files: DingTalk sends them only by OpenAPI.
      emulator.pushMessage({ conversationId: "cid-outsider", senderStaffId: null, text: "hi" })
      await emulator.waitForReplies(1, { conversationId: "cid-outsider", timeoutMs: 10_000 })
      const outsider = await call({ conversationId: "cid-outsider", base64: "eA==", fileName: "x.txt" })
      expect(outsider.isError).toBe(true)
      expect(textOf(outsider)).toContain("this 1:1 chat is with someone outside the organisation")
    })
  }, 30_000)
})
