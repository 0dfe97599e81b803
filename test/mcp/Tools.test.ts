import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { InboundMessage } from "../../src/dingtalk/RobotMessage.js"
import { Conversations } from "../../src/dingtalk/Conversations.js"
import { localDispatch, makeMcpServer } from "../../src/mcp/McpServer.js"
import { startBridge } from "../support/bridge.js"

const nowhere = { url: "http://127.0.0.1:9", clientId: "ding-x", clientSecret: "secret-x" }
const env = { DINGTALK_CLIENT_ID: "ding-x", DINGTALK_CLIENT_SECRET: "secret-x", DINGTALK_API_URL: nowhere.url, OPENCODE_SERVER_URL: nowhere.url, DINGTALK_RECONNECT_BASE_MS: "60000" }

const connectedClient = Effect.gen(function*() {
  const context = yield* startBridge(env)
  const dispatch = localDispatch(context)
  const server = makeMcpServer(() => dispatch)
  const client = new Client({ name: "test", version: "1" })
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  yield* Effect.promise(() => server.connect(serverSide))
  yield* Effect.acquireRelease(Effect.promise(() => client.connect(clientSide)), () => Effect.promise(() => client.close()))
  return { client, context }
})

const text = (result: Awaited<ReturnType<Client["callTool"]>>) => (result.content as Array<{ text: string }>)[0]!.text

describe("MCP tools", () => {
  it.live("list the six tools with descriptions and object input schemas whose fields are described", () =>
    Effect.gen(function*() {
      const { client } = yield* connectedClient
      const { tools } = yield* Effect.promise(() => client.listTools())
      assert.deepStrictEqual(tools.map((t) => t.name), ["dingtalk_send_message", "dingtalk_list_conversations", "dingtalk_get_stats", "dingtalk_get_performance", "dingtalk_approve_pairing", "dingtalk_send_file"])
      assert.deepStrictEqual(tools.find((t) => t.name === "dingtalk_send_file")?.annotations, {
        title: "Send a file to DingTalk", readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true,
      })
      // Every tool says whether it changes anything: the reading ones are read-only, the sending ones are not.
      const readOnly = Object.fromEntries(tools.map((t) => [t.name, t.annotations?.readOnlyHint]))
      assert.deepStrictEqual(readOnly, {
        dingtalk_send_message: false, dingtalk_list_conversations: true, dingtalk_get_stats: true,
        dingtalk_get_performance: true, dingtalk_approve_pairing: false, dingtalk_send_file: false,
      })
      for (const tool of tools) {
        assert.isString(tool.annotations?.title)
        assert.strictEqual(tool.inputSchema.type, "object")
        for (const field of Object.values(tool.inputSchema.properties ?? {})) assert.isString((field as { description?: string }).description)
      }
      assert.deepStrictEqual(tools[0]!.inputSchema.required, ["conversationId", "message"])
    }).pipe(Effect.scoped))

  it.live("sending to an unknown conversation is a tool error that says how to find a valid ID", () =>
    Effect.gen(function*() {
      const { client } = yield* connectedClient
      const result = yield* Effect.promise(() => client.callTool({ name: "dingtalk_send_message", arguments: { conversationId: "cid-unknown", message: "hi" } }))
      assert.isTrue(result.isError)
      assert.match(text(result), /dingtalk_list_conversations/)
      const invalid = yield* Effect.promise(() => client.callTool({ name: "dingtalk_send_message", arguments: { message: "no id" } }))
      assert.isTrue(invalid.isError)
      assert.match(text(invalid), /conversationId/)
    }).pipe(Effect.scoped))

  it.live("conversations the robot has seen are listed newest first, with type and webhook expiry", () =>
    Effect.gen(function*() {
      const { client, context } = yield* connectedClient
      const empty = yield* Effect.promise(() => client.callTool({ name: "dingtalk_list_conversations", arguments: {} }))
      assert.match(text(empty), /No conversations yet/)
      const message = (conversationId: string, type: "single" | "group", receivedAt: number): InboundMessage => ({
        robotCode: "r", msgId: conversationId, conversationId, conversationType: type, conversationTitle: type === "group" ? "Team" : undefined,
        senderId: "s", senderKey: "staff", senderStaffId: "staff", senderNick: "Li Lei", body: { _tag: "Text", text: "x" },
        webhook: "http://127.0.0.1:9/hook?session=secret", webhookExpiresAt: receivedAt + 60_000, receivedAt,
      })
      yield* Conversations.use((c) => c.remember(message("cid-old", "single", 1_000))).pipe(Effect.provideContext(context))
      yield* Conversations.use((c) => c.remember(message("cid-new", "group", 2_000))).pipe(Effect.provideContext(context))
      const listed = yield* Effect.promise(() => client.callTool({ name: "dingtalk_list_conversations", arguments: {} }))
      const rows = (listed.structuredContent as { conversations: Array<Record<string, unknown>> }).conversations
      assert.deepStrictEqual(rows.map((r) => [r.conversationId, r.type, r.title]), [["cid-new", "group", "Team"], ["cid-old", "1:1", "Li Lei"]])
      assert.notInclude(text(listed), "session=secret")
      const limited = yield* Effect.promise(() => client.callTool({ name: "dingtalk_list_conversations", arguments: { limit: 1 } }))
      assert.strictEqual((limited.structuredContent as { conversations: Array<unknown> }).conversations.length, 1)
    }).pipe(Effect.scoped))

  it.live("stats and performance report the connection state and the metrics", () =>
    Effect.gen(function*() {
      const { client } = yield* connectedClient
      const stats = yield* Effect.promise(() => client.callTool({ name: "dingtalk_get_stats", arguments: {} }))
      const s = stats.structuredContent as { connection: { state: string }; messages: { received: number } }
      assert.include(["connecting", "backoff"], s.connection.state)
      assert.strictEqual(s.messages.received, 0)
      const performance = yield* Effect.promise(() => client.callTool({ name: "dingtalk_get_performance", arguments: {} }))
      const p = performance.structuredContent as { queue: { depth: number }; latencyMs: Record<string, { count: number }>; memoryMb: { rss: number; heapUsed: number } }
      assert.strictEqual(p.queue.depth, 0)
      assert.deepStrictEqual(Object.keys(p.latencyMs).sort(), ["delivery", "firstCardUpdate", "overhead", "queueWait", "turn"])
      assert.strictEqual(p.latencyMs.turn!.count, 0)
      // The live heap is part of the resident set: a swapped or mis-scaled figure breaks this.
      assert.isBelow(p.memoryMb.heapUsed, p.memoryMb.rss)
    }).pipe(Effect.scoped))
})
