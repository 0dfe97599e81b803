import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import http from "node:http"
import { describe, expect, it } from "vitest"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { spawnMain } from "../support/mcpProcess.js"
import { cleanupAfterEach, freePort } from "../support/resources.js"

const onCleanup = cleanupAfterEach()


/** A raw request, so tests can set any Host header. */
const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, path, method: "GET", headers }, (response) => {
      let body = ""
      response.on("data", (chunk) => (body += chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
    })
    request.on("error", reject)
    request.end()
  })

const waitUntilListening = async (port: number) => {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    try {
      return await get(port, "/healthz")
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  throw new Error("MCP HTTP endpoint did not come up")
}

describe("MCP over Streamable HTTP", () => {
  it("serves the tools, /healthz and /metrics on 127.0.0.1, refuses foreign Hosts and requires the token", async () => {
    const emulator = await startDingTalkEmulator()
    const opencode = await startFakeOpenCode()
    onCleanup(() => emulator.close(), () => opencode.close())
    const port = await freePort()
    const server = spawnMain({
      DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
      OPENCODE_SERVER_URL: opencode.url, MCP_HTTP_PORT: String(port), MCP_HTTP_TOKEN: "t0ken",
    })
    onCleanup(() => server.kill())
    await server.initialize()
    await emulator.waitForConnections(1, 10_000)
    const health = await waitUntilListening(port)
    expect(health.status).toBe(200)
    expect(JSON.parse(health.body)).toMatchObject({ status: "ok", connection: "connected", ownerPid: server.child.pid })

    expect((await get(port, "/healthz", { host: "evil.example:80" })).status).toBe(403)
    expect((await get(port, "/healthz", { origin: "https://evil.example" })).status).toBe(403)
    expect((await get(port, "/metrics")).status).toBe(401)
    const metrics = await get(port, "/metrics", { authorization: "Bearer t0ken" })
    expect(metrics.status).toBe(200)
    expect(metrics.body).toMatch(/^dingtalk_bridge_received_total 0$/m)
    expect(metrics.body).toMatch(/^# TYPE dingtalk_bridge_http_connections_total counter$/m)
    expect(metrics.body).toMatch(/^dingtalk_bridge_queue_depth 0$/m)
    expect(metrics.body).toMatch(/^dingtalk_bridge_turn_ms_count 0$/m)

    const client = new Client({ name: "http-test", version: "1" })
    const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { authorization: "Bearer t0ken" } } })
    await client.connect(transport)
    onCleanup(() => client.close())
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name)).toContain("dingtalk_send_message")
    emulator.pushMessage({ text: "over http", conversationId: "cid-http" })
    await emulator.waitForReplies(1, { conversationId: "cid-http" })
    const sent = await client.callTool({ name: "dingtalk_send_message", arguments: { conversationId: "cid-http", message: "hello over HTTP" } })
    expect(sent.isError).toBeFalsy()
    expect((await emulator.waitForReplies(2, { conversationId: "cid-http" }))[1]!.text).toBe("hello over HTTP")

    const unauthorised = new Client({ name: "no-token", version: "1" })
    await expect(unauthorised.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)))).rejects.toThrow()
  }, 30_000)
})
