import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import http from "node:http"
import net from "node:net"
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

/** Emulator, fake OpenCode and `node dist/main.js` serving MCP over HTTP with `extra` settings; resolves once it is initialised. */
const startHttpBridge = async (extra: Record<string, string>) => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode()
  onCleanup(() => emulator.close(), () => opencode.close())
  const port = await freePort()
  const server = spawnMain({
    DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
    OPENCODE_SERVER_URL: opencode.url, MCP_HTTP_PORT: String(port), DINGTALK_ACCESS: "open", ...extra,
  })
  onCleanup(() => server.kill())
  await server.initialize()
  return { emulator, server, port }
}

describe("MCP over Streamable HTTP", () => {
  it("serves the tools, /healthz and /metrics on 127.0.0.1, refuses foreign Hosts and requires the token", async () => {
    const { emulator, server, port } = await startHttpBridge({ MCP_HTTP_TOKEN: "t0ken" })
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

/** A raw POST with any body size. */
const post = (port: number, path: string, body: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, path, method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers } }, (response) => {
      let text = ""
      response.on("data", (chunk) => (text += chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }))
    })
    request.on("error", reject)
    request.end(body)
  })

describe("MCP over HTTP: the door's limits", () => {
  it("refuses to start on a non-loopback MCP_HTTP_HOST without MCP_HTTP_TOKEN: exit 2, one line", async () => {
    const port = await freePort()
    const server = spawnMain({ DINGTALK_CLIENT_ID: "id", DINGTALK_CLIENT_SECRET: "secret", DINGTALK_API_URL: "http://127.0.0.1:9", MCP_HTTP_PORT: String(port), MCP_HTTP_HOST: "0.0.0.0" })
    onCleanup(() => server.kill())
    const { code } = await server.exited
    expect(code).toBe(2)
    const lines = server.stderr().trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/MCP_HTTP_HOST=0\.0\.0\.0 .*MCP_HTTP_TOKEN must be set/)
  }, 20_000)

  it("wrong tokens of any length are refused; bodies over 1 MiB get 413; connections over the cap are closed", async () => {
    const { port } = await startHttpBridge({ MCP_HTTP_HOST: "0.0.0.0", MCP_HTTP_TOKEN: "s3cret-token" })
    await waitUntilListening(port)
    for (const wrong of ["", "Bearer s", "Bearer s3cret-tokeX", `Bearer s3cret-token${"x".repeat(1000)}`]) {
      expect((await get(port, "/metrics", wrong === "" ? {} : { authorization: wrong })).status).toBe(401)
    }
    expect((await get(port, "/metrics", { authorization: "Bearer s3cret-token" })).status).toBe(200)
    const big = await post(port, "/mcp", JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "x".repeat(2 * 1024 * 1024) } }), { authorization: "Bearer s3cret-token" })
    expect(big.status).toBe(413)

    // 40 idle connections: the server keeps at most 32 and closes the rest at once.
    const sockets = await Promise.all(Array.from({ length: 40 }, () => new Promise<net.Socket>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(socket))
      socket.on("error", () => undefined)
    })))
    onCleanup(() => sockets.forEach((s) => s.destroy()))
    const closed = await Promise.all(sockets.map((socket) => new Promise<boolean>((resolve) => {
      if (socket.destroyed) return resolve(true)
      socket.once("close", () => resolve(true))
      setTimeout(() => resolve(false), 1_000)
    })))
    expect(closed.filter(Boolean).length).toBeGreaterThanOrEqual(8)
    sockets.forEach((s) => s.destroy())
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect((await get(port, "/healthz")).status).toBe(200)
  }, 30_000)
})
