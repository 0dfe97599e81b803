/**
 * Cluster mode with pairing (the default access): pairings live in PostgreSQL, so a sender approved
 * with `dingtalk-mcp-server pair CODE` (on any host) is let in by every runner, whichever connection
 * DingTalk gives the next push to. Attachments are fetched by the runner that runs the turn, and a
 * `/model` given through any runner applies to every turn. Needs PostgreSQL (see cluster.test.ts).
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { startClusterRunner } from "../support/bridgeInstances.js"
import { MAIN } from "../support/mcpProcess.js"
import { postgresMissing, startTestPostgres, type TestPostgres } from "../support/postgres.js"
import { cleanupAfterEach, freePort } from "../support/resources.js"

const missing = postgresMissing()
if (missing !== undefined) console.warn(`test/e2e/clusterAccess.test.ts skipped: it needs PostgreSQL (${missing})`)

const onCleanup = cleanupAfterEach()
let pg: TestPostgres | undefined
beforeAll(async () => {
  if (missing === undefined) pg = startTestPostgres(await freePort(), "bridge_cluster_access")
}, 60_000)
afterAll(() => pg?.stop())

const pair = (code: string, env: Record<string, string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [MAIN, "pair", code], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr }))
  })
const codeIn = (text: string) => /pairing code is ([A-Z0-9]{6})/.exec(text)?.[1]

describe.skipIf(missing !== undefined)("cluster mode: pairings shared by every runner", () => {
  it("a code handed out by one runner, approved with `pair` on another host, lets the sender in on the other runner; files, /model and /new follow the conversation", async () => {
    const url = pg!.createDatabase("bridge_cluster_access_1")
    const emulator = await startDingTalkEmulator()
    const project = mkdtempSync(path.join(tmpdir(), "dingtalk-cluster-project-"))
    const opencode = await startFakeOpenCode({ directory: project, models: [{ ref: "fake/one" }, { ref: "fake/two" }] })
    onCleanup(() => emulator.close(), () => opencode.close())
    const start = () => startClusterRunner(onCleanup, emulator, opencode, url, { DINGTALK_ACCESS: "pairing", BRIDGE_LANGUAGE: "en" })
    const a = await start()
    await emulator.waitForConnections(1, 15_000)
    const connectionOfA = emulator.openConnections().at(-1)!.id
    await start()
    await emulator.waitForConnections(2, 15_000)
    const connectionOfB = emulator.openConnections().find((c) => c.id !== connectionOfA)!.id

    const cid = "cid-cluster-pair"
    const sender = { conversationId: cid, senderStaffId: "li", senderNick: "Li Lei" }
    emulator.pushMessage({ text: "hello", ...sender }, { connectionId: connectionOfA })
    const [notice] = await emulator.waitForReplies(1, { conversationId: cid, timeoutMs: 10_000 })
    const code = codeIn(notice!.text)!
    expect(code).toMatch(/^[A-Z0-9]{6}$/)
    expect(opencode.prompts).toHaveLength(0)

    // `pair` on a host with no runner and its own state dir: the database is what counts.
    const elsewhere = { DINGTALK_CLIENT_ID: emulator.clientId, BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), "dingtalk-pair-elsewhere-")), BRIDGE_DATABASE_URL: url }
    expect((await pair("ZZZZZZ", elsewhere)).code).toBe(1)
    const approved = await pair(code, elsewhere)
    expect(approved).toMatchObject({ code: 0, stderr: "" })
    expect(approved.stdout).toMatch(/Approved Li Lei \(li\)/)
    // The runner that handed out the code tells the sender.
    expect((await emulator.waitForReplies(2, { conversationId: cid, timeoutMs: 10_000 }))[1]!.text).toMatch(/You are approved/)

    // The next message reaches the other runner, which lets them in.
    emulator.pushMessage({ text: "hello again", ...sender }, { connectionId: connectionOfB })
    const replies = await emulator.waitForReplies(3, { conversationId: cid, timeoutMs: 15_000 })
    expect(replies[2]!.text).toBe("ECHO: hello again")
    expect(opencode.prompts.map((p) => p.text)).toEqual(["hello again"])

    // A file reaches the runner that owns the conversation: fetched there and named in the prompt.
    emulator.pushMedia("file", Buffer.from("line one\n"), { ...sender, fileName: "notes.txt" }, { connectionId: connectionOfA })
    await emulator.waitForReplies(4, { conversationId: cid, timeoutMs: 15_000 })
    const prompt = opencode.prompts.at(-1)!.text
    expect(prompt).toContain("[The user sent an attachment, saved in the project:]")
    const saved = /- File: (\S+)/.exec(prompt)?.[1]
    expect(saved?.startsWith(project)).toBe(true)
    expect(readFileSync(saved!, "utf8")).toBe("line one\n")

    // `/model` reaching the runner that does not run the conversation's turns applies to them.
    const notOwner = a.stderr().includes("Answered") ? connectionOfB : connectionOfA
    emulator.pushMessage({ text: "/model fake/two", ...sender }, { connectionId: notOwner })
    await emulator.waitForReplies(5, { conversationId: cid, timeoutMs: 15_000 })
    for (const connectionId of [connectionOfA, connectionOfB]) emulator.pushMessage({ text: `via ${connectionId}`, ...sender }, { connectionId })
    await emulator.waitForReplies(7, { conversationId: cid, timeoutMs: 15_000 })
    expect(opencode.promptParts.slice(-2).map((p) => p.model)).toEqual([{ providerID: "fake", modelID: "two" }, { providerID: "fake", modelID: "two" }])

    // `/new` there too: the next turns go to the new session.
    const before = opencode.prompts.at(-1)!.sessionId
    emulator.pushMessage({ text: "/new", ...sender }, { connectionId: notOwner })
    await emulator.waitForReplies(8, { conversationId: cid, timeoutMs: 15_000 })
    const started = /ses_\w+/.exec(emulator.repliesFor(cid).at(-1)!.text)?.[0]
    expect(started).toBeDefined()
    expect(started).not.toBe(before)
    for (const connectionId of [connectionOfA, connectionOfB]) emulator.pushMessage({ text: `after new via ${connectionId}`, ...sender }, { connectionId })
    await emulator.waitForReplies(10, { conversationId: cid, timeoutMs: 15_000 })
    expect(opencode.prompts.slice(-2).map((p) => p.sessionId)).toEqual([started, started])
  }, 120_000)
})
