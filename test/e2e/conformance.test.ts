// The official MCP conformance suite against our Streamable HTTP endpoint, with a committed baseline.
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, expect, it } from "vitest"
import { spawnMain, type McpProcess } from "../support/mcpProcess.js"
import { freePort } from "../support/resources.js"

const HERE = path.dirname(fileURLToPath(import.meta.url))
const CLI = path.resolve(HERE, "../../node_modules/@modelcontextprotocol/conformance/dist/index.js")
let server: McpProcess | undefined
afterAll(() => server?.kill())


it("passes every applicable server scenario of @modelcontextprotocol/conformance", async () => {
  const port = await freePort()
  server = spawnMain({ DINGTALK_CLIENT_ID: "conformance", DINGTALK_CLIENT_SECRET: "x", DINGTALK_API_URL: "http://127.0.0.1:9", MCP_HTTP_PORT: String(port) })
  await server.initialize()
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline && !(await fetch(`http://127.0.0.1:${port}/healthz`).then(() => true, () => false))) await new Promise((r) => setTimeout(r, 100))
  const output = mkdtempSync(path.join(tmpdir(), "conformance-"))
  const result = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [CLI, "server", "--url", `http://127.0.0.1:${port}/mcp`, "--expected-failures", path.join(HERE, "conformance-baseline.yml"), "-o", output], { timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, out: `${stdout}\n${stderr}` }))
  })
  if (result.code !== 0) console.error(result.out.slice(-3_000))
  expect(result.code).toBe(0)
  expect(result.out).toMatch(/✓ server-initialize/)
  expect(result.out).toMatch(/✓ dns-rebinding-protection: 2 passed, 0 failed/)
}, 60_000)
