// `npm start` without credentials: the sandbox chat page, driven in a real headless Chromium.
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { chromium } from "playwright-core"
import { expect, it } from "vitest"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { onlyJsonRpc, spawnMain } from "../support/mcpProcess.js"
import { cleanupAfterEach, freePort } from "../support/resources.js"

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const haveChromium = existsSync(CHROMIUM)
if (!haveChromium) process.stderr.write(`sandbox browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)\n`)

const onCleanup = cleanupAfterEach()


it.runIf(haveChromium)("without credentials, the chat page sends 'hello' through the real pipeline and shows the answer; MCP stdio still works", async () => {
  const opencode = await startFakeOpenCode()
  onCleanup(() => opencode.close())
  const port = await freePort()
  const server = spawnMain({ OPENCODE_SERVER_URL: opencode.url, SANDBOX_PORT: String(port), BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), "sandbox-state-")) })
  onCleanup(() => server.kill())
  await server.initialize()
  const deadline = Date.now() + 10_000
  while (!server.stderr().includes(`http://127.0.0.1:${port}`)) {
    if (Date.now() > deadline) throw new Error(`no chat page announced:\n${server.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  expect(server.stderr()).toMatch(/Sandbox mode/)
  expect(server.stderr()).toMatch(/set DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET/)

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  })
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
