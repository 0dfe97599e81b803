// The sandbox page with pictures both ways, in a real headless Chromium: a picture attached in the page
// reaches OpenCode as a saved file named in the prompt; a picture the agent sends with dingtalk_send_file
// shows up in the page.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { expect, it } from "vitest"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { cleanupAfterEach, freePort } from "../support/resources.js"
import { haveChromium, launchChromium, spawnSandbox, waitForChatPage } from "../support/sandboxPage.js"

const onCleanup = cleanupAfterEach()

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

it.runIf(haveChromium)("the sandbox page attaches a picture for the agent and shows the picture the agent sends back", async () => {
  const project = mkdtempSync(path.join(tmpdir(), "sandbox-project-"))
  onCleanup(() => rmSync(project, { recursive: true, force: true }))
  const opencode = await startFakeOpenCode({ directory: project })
  onCleanup(() => opencode.close())
  const port = await freePort()
  const server = spawnSandbox(opencode.url, port, "sandbox-state-")
  onCleanup(() => server.kill())
  await waitForChatPage(server, port)
  const browser = await launchChromium()
  onCleanup(() => browser.close())
  const page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${port}/`)

  const shot = path.join(project, "..", `shot-${port}.png`)
  writeFileSync(shot, PNG)
  onCleanup(() => rmSync(shot, { force: true }))
  await page.getByLabel("Message").fill("what is this?")
  await page.locator("#attach").setInputFiles(shot)
  const [prompt] = await opencode.waitForPrompts(1, 15_000)
  expect(prompt!.text).toContain("what is this?")
  const saved = /- Picture: (\S+\.png)/.exec(prompt!.text)?.[1]
  expect(saved).toBeDefined()
  expect(saved!.startsWith(path.join(project, ".dingtalk", "attachments"))).toBe(true)
  expect(readFileSync(saved!)).toEqual(PNG)
  await expect.poll(() => page.locator('.msg[data-from="user"]').allTextContents()).toEqual([expect.stringContaining(`📎 shot-${port}.png`)])

  const sent = await server.callTool("dingtalk_send_file", { conversationId: "cid-sandbox-1on1", base64: PNG.toString("base64"), fileName: "chart.png" })
  expect(sent.isError).toBeFalsy()
  await expect.poll(() => page.locator('.msg[data-from="robot"] img').count(), { timeout: 10_000 }).toBe(1)
  const src = await page.locator('.msg[data-from="robot"] img').getAttribute("src")
  const image = await page.evaluate(async (url) => Array.from(new Uint8Array(await (await fetch(url!)).arrayBuffer())), src)
  expect(Buffer.from(image)).toEqual(PNG)
}, 40_000)
