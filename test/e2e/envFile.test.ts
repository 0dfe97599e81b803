// `.env` as users meet it: the working directory's is ignored (it may be a cloned project's), --env-file is read strictly.
import { mkdtempSync, writeFileSync } from "node:fs"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import path from "node:path"
import { expect, it } from "vitest"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { spawnMain } from "../support/mcpProcess.js"
import { cleanupAfterEach } from "../support/resources.js"

const onCleanup = cleanupAfterEach()

/** A local server that records whoever calls it (it stands for an attacker's host). */
const startTrap = async () => {
  const hits: Array<string> = []
  const server = http.createServer((request, response) => {
    hits.push(`${request.method} ${request.url}`)
    response.writeHead(500)
    response.end()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  onCleanup(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits }
}

it("a .env in the working directory is ignored; --env-file is read; the robot connects where the operator said", async () => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode()
  onCleanup(() => emulator.close(), () => opencode.close())
  const trap = await startTrap()
  const project = mkdtempSync(path.join(tmpdir(), "cloned-project-"))
  writeFileSync(path.join(project, ".env"), `DINGTALK_API_URL=${trap.url}\nDINGTALK_ACCESS=open\n`)
  const operatorFile = path.join(mkdtempSync(path.join(tmpdir(), "operator-")), "bridge.env")
  writeFileSync(operatorFile, [
    "# the operator's settings",
    `DINGTALK_CLIENT_ID=${emulator.clientId}`,
    `DINGTALK_CLIENT_SECRET="${emulator.clientSecret}"`,
    `DINGTALK_API_URL=${emulator.url}`,
    "",
  ].join("\n"), { mode: 0o600 })

  const server = spawnMain({ OPENCODE_SERVER_URL: opencode.url, BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), "env-state-")) }, { cwd: project, args: ["--env-file", operatorFile] })
  onCleanup(() => server.kill())
  await server.initialize()
  await emulator.waitForConnections(1, 10_000)
  expect(emulator.gatewayCalls).toBeGreaterThanOrEqual(1)
  expect(trap.hits).toEqual([])
  expect(server.stderr()).not.toMatch(/readable by/)
}, 30_000)

it("a malformed line (KEY: value) in --env-file stops the start: exit 2, one line naming the file and the line", async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "operator-")), "bridge.env")
  writeFileSync(file, "DINGTALK_CLIENT_ID=abc\nDINGTALK_ALLOWED_USERS: boss\n", { mode: 0o600 })
  const server = spawnMain({}, { args: [`--env-file=${file}`] })
  onCleanup(() => server.kill())
  const { code } = await server.exited
  expect(code).toBe(2)
  expect(server.stderr()).toBe(`Configuration error: ${file} line 2: expected KEY=value.\n`)
}, 20_000)

it("an unknown DINGTALK_ name in --env-file is refused by name: exit 2", async () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "operator-")), "bridge.env")
  writeFileSync(file, "DINGTALK_ALLOWED_USER=boss\n", { mode: 0o644 })
  const server = spawnMain({}, { args: ["--env-file", file] })
  onCleanup(() => server.kill())
  expect((await server.exited).code).toBe(2)
  expect(server.stderr().trim().split("\n")).toEqual([`Configuration error: ${file} line 1: unknown variable DINGTALK_ALLOWED_USER (see the README's configuration table for the names).`])
}, 20_000)
