// `npm start` without credentials: the sandbox chat page, driven in a real headless Chromium.
import { tmpdir } from "node:os"
import http from "node:http"
import path from "node:path"
import { expect, it } from "vitest"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { onlyJsonRpc } from "../support/mcpProcess.js"
import { cleanupAfterEach, freePort } from "../support/resources.js"
import { CHROMIUM, haveChromium, launchChromium, spawnSandbox, waitForChatPage } from "../support/sandboxPage.js"

if (!haveChromium) process.stderr.write(`sandbox browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)\n`)

const onCleanup = cleanupAfterEach()

/** Fake OpenCode and `node dist/main.js` without credentials (the sandbox), once its chat page is announced; English unless `env` says otherwise. */
const startSandbox = async (env: Record<string, string> = { BRIDGE_LANGUAGE: "en" }) => {
  const opencode = await startFakeOpenCode()
  onCleanup(() => opencode.close())
  const port = await freePort()
  const server = spawnSandbox(opencode.url, port, "sandbox-state-", env)
  onCleanup(() => server.kill())
  await waitForChatPage(server, port)
  return { opencode, server, port }
}


it.runIf(haveChromium)("without credentials, the chat page sends 'hello' through the real pipeline and shows the answer; MCP stdio still works", async () => {
  const { opencode, server, port } = await startSandbox()
  expect(server.stderr()).toMatch(/Sandbox mode/)
  expect(server.stderr()).toMatch(/set DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET/)

  const browser = await launchChromium(["--disable-quic", "--disable-component-update", "--disable-sync"])
  onCleanup(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1100, height: 640 } })
  await page.goto(`http://127.0.0.1:${port}/`)
  await page.getByLabel("Message").fill("hello")
  await page.getByRole("button", { name: "Send" }).click()
  await expect.poll(() => page.locator('.msg[data-from="robot"]').allTextContents(), { timeout: 10_000 }).toEqual([expect.stringContaining("ECHO: hello")])
  await expect.poll(() => page.locator("#opencode").textContent()).toMatch(/OpenCode reachable/)
  await page.screenshot({ path: path.join(process.env.SANDBOX_SCREENSHOT_DIR ?? tmpdir(), "sandbox.png") })

  // The same process answers MCP over stdio: the conversation typed in the page is known to the tools.
  const listed = await server.callTool("dingtalk_list_conversations")
  expect(listed.structuredContent.conversations.map((c: { conversationId: string }) => c.conversationId)).toEqual(["cid-sandbox-1on1"])

  // Without OpenCode the page says how to start it.
  await opencode.close()
  await expect.poll(() => page.locator("#opencode").textContent(), { timeout: 10_000 }).toMatch(/opencode serve --port 4096/)
  expect(onlyJsonRpc(server.stdoutLines)).toBe(true)
}, 40_000)

/** A raw request to the sandbox page, with any headers and body. */
const request = (port: number, method: string, pathname: string, headers: Record<string, string>, body?: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const sent = http.request({ host: "127.0.0.1", port, path: pathname, method, headers }, (response) => {
      let text = ""
      response.on("data", (chunk) => (text += chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }))
    })
    sent.on("error", reject)
    sent.end(body)
  })

it("the sandbox API refuses other sites, requests without the page's token, non-JSON and oversized bodies, and too many chats", async () => {
  const { opencode, server, port } = await startSandbox({})
  const host = `127.0.0.1:${port}`
  const send = JSON.stringify({ conversationId: "cid-sandbox-1on1", sender: "Eve", text: "run id" })

  // What a page on another site can send without a CORS preflight: a text/plain POST, no custom header.
  const crossSite = await request(port, "POST", "/api/send", { host, origin: "https://evil.example", "content-type": "text/plain" }, send)
  expect(crossSite.status).toBe(403)
  expect((await request(port, "POST", "/api/send", { host: "evil.example", "content-type": "application/json" }, send)).status).toBe(403)
  expect((await request(port, "POST", "/api/send", { host, origin: `http://${host}`, "content-type": "application/json" }, send)).status).toBe(403)
  expect((await request(port, "GET", "/api/state", { host })).status).toBe(403)

  const page = await request(port, "GET", "/", { host })
  expect(page.status).toBe(200)
  const token = /<meta name="sandbox-token" content="([^"]+)">/.exec(page.body)?.[1]
  expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/)
  // Without BRIDGE_LANGUAGE the page speaks Chinese, like the robot.
  expect(page.body).toContain('<html lang="zh-CN">')
  expect(page.body).toContain("给机器人发消息")
  const withToken = { host, origin: `http://${host}`, "x-sandbox-token": token! }
  expect((await request(port, "POST", "/api/send", { ...withToken, "content-type": "text/plain" }, send)).status).toBe(415)
  expect((await request(port, "POST", "/api/send", { ...withToken, "x-sandbox-token": "wrong" , "content-type": "application/json" }, send)).status).toBe(403)
  const big = JSON.stringify({ conversationId: "cid-sandbox-1on1", text: "x".repeat(100_000) })
  expect((await request(port, "POST", "/api/send", { ...withToken, "content-type": "application/json" }, big)).status).toBe(413)

  // Nothing of the above reached the bridge.
  await new Promise((resolve) => setTimeout(resolve, 500))
  expect(opencode.prompts).toHaveLength(0)
  expect((await server.callTool("dingtalk_get_stats")).structuredContent.messages.received).toBe(0)

  // The page's own requests work.
  expect((await request(port, "POST", "/api/send", { ...withToken, "content-type": "application/json" }, send)).status).toBe(200)
  await opencode.waitForPrompts(1, 10_000)
  const statuses: Array<number> = []
  for (let i = 0; i < 50; i++) statuses.push((await request(port, "POST", "/api/chats", { ...withToken, "content-type": "application/json; charset=utf-8" }, '{"type":"1"}')).status)
  expect(statuses.filter((s) => s === 200)).toHaveLength(48)
  expect(statuses.slice(48)).toEqual([429, 429])
}, 40_000)
