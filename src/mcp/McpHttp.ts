/**
 * MCP over Streamable HTTP on the owning process (when `MCP_HTTP_PORT` is set), beside `GET /healthz`
 * (JSON status) and `GET /metrics` (Prometheus text). Bound to 127.0.0.1 by default; requests whose
 * Host or Origin is not local are refused (DNS rebinding), and `MCP_HTTP_TOKEN` adds a bearer token
 * (required by the configuration for any other address). Connections, header time and body size are capped.
 */
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { Effect, Option, Redacted } from "effect"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { constantTimeEquals } from "../core/ConstantTimeEquals.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { DingTalkStream } from "../dingtalk/DingTalkStream.js"
import { makeMcpServer, type ToolDispatch } from "./McpServer.js"

const LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

/** Host header (with or without port) names this machine's loopback, or the configured host. */
const hostAllowed = (hostHeader: string | undefined, boundHost: string) => {
  if (hostHeader === undefined) return false
  const name = hostHeader.startsWith("[") ? hostHeader.slice(0, hostHeader.indexOf("]") + 1) : hostHeader.split(":")[0]!
  return LOCAL_HOSTS.includes(name) || name === boundHost
}

/** A browser page may only come from a local origin. */
const originAllowed = (origin: string | undefined) => {
  if (origin === undefined) return true
  try {
    return LOCAL_HOSTS.includes(new URL(origin).hostname) || LOCAL_HOSTS.includes(`[${new URL(origin).hostname}]`)
  } catch {
    return false
  }
}

/** Limits of the endpoint: it serves a few local agents, not the public. */
export const MCP_HTTP_LIMITS = { maxConnections: 32, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxBodyBytes: 1024 * 1024 } as const

/** Compares an Authorization header with the expected one in constant time (digests have equal length). */
export const authorizationMatches = (given: string | undefined, expected: string): boolean =>
  given !== undefined && constantTimeEquals(given, expected)

const send = (response: http.ServerResponse, status: number, contentType: string, body: string) => {
  response.writeHead(status, { "content-type": contentType, "cache-control": "no-store" })
  response.end(body)
}

const jsonRpcError = (response: http.ServerResponse, status: number, message: string) =>
  send(response, status, "application/json", JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }))

/** Serves MCP over HTTP for the current scope; resolves to the bound port. */
export const serveMcpHttp = (dispatch: ToolDispatch) =>
  Effect.gen(function*() {
    const settings = yield* BridgeConfig
    const metrics = yield* BridgeMetrics
    const stream = yield* DingTalkStream
    const { host, port, token } = settings.mcpHttp
    if (Option.isNone(port)) return Option.none<number>()
    const expectedAuth = Option.map(token, (t) => `Bearer ${Redacted.value(t)}`)
    // Requests run in the application's runtime: its logger, log level, tracer and metrics.
    const run = Effect.runPromiseWith(yield* Effect.context<never>())

    const handle = async (request: http.IncomingMessage, response: http.ServerResponse) => {
      if (!hostAllowed(request.headers.host, host)) return jsonRpcError(response, 403, "Forbidden: the Host header is not this machine (DNS rebinding protection).")
      if (!originAllowed(request.headers.origin)) return jsonRpcError(response, 403, "Forbidden: requests from this Origin are not allowed.")
      const path = new URL(request.url ?? "/", "http://localhost").pathname
      if (request.method === "GET" && path === "/healthz") {
        const status = await run(stream.status)
        return send(response, 200, "application/json", JSON.stringify({ status: status.state === "connected" || status.state === "client" ? "ok" : "degraded", connection: status.state, ownerPid: process.pid, reconnects: status.reconnects }))
      }
      if (Option.isSome(expectedAuth) && !authorizationMatches(request.headers.authorization, expectedAuth.value)) {
        response.setHeader("www-authenticate", "Bearer")
        return jsonRpcError(response, 401, "Unauthorized: send the MCP_HTTP_TOKEN as a bearer token.")
      }
      if (request.method === "GET" && path === "/metrics") return send(response, 200, "text/plain; version=0.0.4", await run(metrics.prometheus))
      if (path !== "/mcp") return jsonRpcError(response, 404, "Not found: MCP is served at /mcp.")
      if (request.method !== "POST") {
        response.setHeader("allow", "POST")
        return jsonRpcError(response, 405, "Method not allowed: this server is stateless; POST JSON-RPC to /mcp.")
      }
      // Stateless: a fresh server and transport per request, both closed with the response.
      const server = makeMcpServer(() => dispatch)
      const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true, maxRequestBodySize: MCP_HTTP_LIMITS.maxBodyBytes })
      response.on("close", () => {
        void transport.close()
        void server.close()
      })
      await server.connect(transport)
      await transport.handleRequest(request, response)
    }

    const server = yield* Effect.acquireRelease(
      Effect.callback<http.Server>((resume) => {
        const created = http.createServer((request, response) => {
          handle(request, response).catch(() => {
            if (!response.headersSent) jsonRpcError(response, 500, "Internal error; see the server's stderr.")
          })
        })
        created.maxConnections = MCP_HTTP_LIMITS.maxConnections
        created.headersTimeout = MCP_HTTP_LIMITS.headersTimeoutMs
        created.requestTimeout = MCP_HTTP_LIMITS.requestTimeoutMs
        created.once("error", (error) => resume(Effect.die(error)))
        created.listen(port.value, host, () => resume(Effect.succeed(created)))
      }),
      (server) => Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
    )
    const bound = (server.address() as AddressInfo).port
    yield* Effect.logInfo(`MCP over Streamable HTTP at http://${host}:${bound}/mcp (also /healthz, /metrics)`)
    return Option.some(bound)
  })
