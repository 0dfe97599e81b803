/**
 * Cluster mode with a real `opencode serve` that asks before running `bash`: every runner sees
 * OpenCode's events, but only the runner that owns the conversation posts the request, and an answer or
 * a `/stop` that reaches the other runner (DingTalk gives pushes to any connection) acts on the owner's turn.
 * Needs PostgreSQL (see cluster.test.ts) and the OpenCode of the devDependencies.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type DingTalkEmulator, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { type FakeModel, startFakeModel } from "../../src/testing/FakeModel.js"
import { startClusterRunner } from "../support/bridgeInstances.js"
import type { McpProcess } from "../support/mcpProcess.js"
import { postgresMissing, startTestPostgres, type TestPostgres } from "../support/postgres.js"
import { type RealOpenCode, startRealOpenCode } from "../support/realOpenCode.js"
import { cleanupAfterEach, freePort } from "../support/resources.js"
import { waitUntil } from "../support/waitUntil.js"

const missing = postgresMissing()
if (missing !== undefined) console.warn(`test/e2e/clusterInteractive.test.ts skipped: it needs PostgreSQL (${missing})`)

const onCleanup = cleanupAfterEach()
let pg: TestPostgres | undefined
let model: FakeModel
let opencode: RealOpenCode
let emulator: DingTalkEmulator

beforeAll(async () => {
  if (missing !== undefined) return
  pg = startTestPostgres(await freePort(), "bridge_cluster_interactive")
  model = await startFakeModel()
  emulator = await startDingTalkEmulator()
  opencode = await startRealOpenCode({ modelUrl: model.url, permission: { bash: "ask" } })
}, 90_000)
afterAll(async () => {
  await opencode?.stop()
  await Promise.all([model?.close(), emulator?.close()])
  pg?.stop()
})

const BASH = `CALLTOOL bash {"command":"echo permitted","description":"Print a word"}`
const ASKED = "OpenCode asks (permission) in the chat"

describe.skipIf(missing !== undefined)("cluster mode: the agent's requests follow the conversation's owner", () => {
  it("one runner posts the request; /allow and /stop sent to the other runner act on the owner's turn; when the owner dies the survivor asks again", async () => {
    const url = pg!.createDatabase("bridge_cluster_interactive_1")
    const start = () =>
      startClusterRunner(onCleanup, emulator, opencode, url, { BRIDGE_LANGUAGE: "en", DINGTALK_CARDS: "off", BRIDGE_SHARD_LOCK_EXPIRATION_MS: "10000" })
    const before = emulator.openConnections().length
    const a = await start()
    await emulator.waitForConnections(before + 1, 15_000)
    const connectionOfA = emulator.openConnections().at(-1)!.id
    const b = await start()
    await emulator.waitForConnections(before + 2, 15_000)
    const connectionOfB = emulator.openConnections().at(-1)!.id
    const connectionOf = (runner: McpProcess) => (runner === a ? connectionOfA : connectionOfB)
    // Runners re-read shard assignments every 3 s: until both have, the first one still holds the shards the
    // second is about to take, and a conversation started now would move in the middle of its turn.
    await new Promise((resolve) => setTimeout(resolve, 7_000))

    const cid = "cid-cluster-ask"
    emulator.pushMessage({ text: BASH, conversationId: cid })
    await waitUntil("a runner to post the request", () => a.stderr().includes(ASKED) || b.stderr().includes(ASKED), { timeoutMs: 60_000, everyMs: 50 })
    const [owner, other] = a.stderr().includes(ASKED) ? [a, b] : [b, a]
    const asked = (await emulator.waitForReplies(1, { conversationId: cid, timeoutMs: 10_000 }))[0]!
    expect(asked.text).toContain("OpenCode asks for permission")
    // The other runner saw the same event and left it to the owner.
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    expect(other.stderr()).not.toContain(ASKED)
    expect(emulator.repliesFor(cid).filter((r) => r.text.includes("OpenCode asks for permission"))).toHaveLength(1)

    // The answer arrives on the other runner's connection.
    emulator.pushMessage({ text: "/allow", conversationId: cid }, { connectionId: connectionOf(other) })
    const replies = await emulator.waitForReplies(3, { conversationId: cid, timeoutMs: 60_000 })
    const texts = replies.map((r) => r.text)
    if (!texts.some((t) => t.startsWith("✅ Allowed once"))) {
      console.error("clusterInteractive diagnostics:", texts, "\nowner:", owner.stderr().slice(-2_000), "\nother:", other.stderr().slice(-2_000))
    }
    expect(texts).toEqual(expect.arrayContaining([expect.stringMatching(/^✅ Allowed once/), expect.stringMatching(/^TOOL RESULT:.*permitted/s)]))
    expect(texts.some((t) => t.includes("nothing") || t.includes("No request"))).toBe(false)
    expect(owner.stderr()).not.toContain("Could not hand an answer")

    // `/stop` reaching the other runner stops the owner's turn and withdraws its request.
    const seen = emulator.repliesFor(cid).length
    emulator.pushMessage({ text: BASH, conversationId: cid })
    await emulator.waitForReplies(seen + 1, { conversationId: cid, timeoutMs: 30_000 })
    expect(emulator.repliesFor(cid).at(-1)!.text).toContain("OpenCode asks for permission")
    // `/status` on the other runner knows the chat's turn runs (on the owner).
    emulator.pushMessage({ text: "/status", conversationId: cid }, { connectionId: connectionOf(other) })
    await emulator.waitForReplies(seen + 2, { conversationId: cid, timeoutMs: 30_000 })
    expect(emulator.repliesFor(cid).at(-1)!.text).toMatch(/\*\*This chat:\*\* answering/)
    emulator.pushMessage({ text: "/stop", conversationId: cid }, { connectionId: connectionOf(other) })
    await waitUntil("the turn to be stopped and its request withdrawn", () => {
      const texts = emulator.repliesFor(cid).slice(seen).map((r) => r.text)
      return texts.includes("⏹ Stopped.") && texts.some((t) => /^Request #\d+ was withdrawn: the turn was stopped\.$/.test(t))
    }, {
      timeoutMs: 30_000,
      everyMs: 50,
      onTimeout: () => `the turn was not stopped with its request withdrawn; replies: ${JSON.stringify(emulator.repliesFor(cid).slice(seen).map((r) => r.text))}\nowner: ${owner.stderr().slice(-1_500)}`,
    })
    expect(await (await fetch(`${opencode.url}/permission`)).json()).toEqual([])

    // The owner dies while a request waits: the survivor takes the conversation, posts the request again,
    // and its answer lets the turn finish.
    const beforeKill = emulator.repliesFor(cid).length
    const asks = () => emulator.repliesFor(cid).slice(beforeKill).filter((r) => r.text.includes("OpenCode asks for permission")).length
    emulator.pushMessage({ text: BASH, conversationId: cid })
    await waitUntil("the owner to post the request", () => asks() === 1, { timeoutMs: 30_000, everyMs: 50 })
    owner.child.kill("SIGKILL")
    await owner.exited
    // The survivor's own post (its log says so), not just a second one in the chat: an answer sent before it
    // owns the conversation would go to the dead runner.
    await waitUntil("the survivor to post the request again", () => other.stderr().includes(ASKED), {
      timeoutMs: 60_000,
      everyMs: 100,
      onTimeout: () => `the survivor did not post the request; replies: ${JSON.stringify(emulator.repliesFor(cid).slice(beforeKill).map((r) => r.text))}`,
    })
    await waitUntil("its post to reach the chat", () => asks() >= 2, { timeoutMs: 10_000, everyMs: 50 })
    expect(asks()).toBe(2)
    emulator.pushMessage({ text: "/allow", conversationId: cid })
    await waitUntil("the turn to finish with the tool's result", () =>
      emulator.repliesFor(cid).slice(beforeKill).some((r) => r.text.startsWith("TOOL RESULT:") && r.text.includes("permitted")), {
      timeoutMs: 60_000,
      everyMs: 100,
      onTimeout: () => `the turn did not finish; replies: ${JSON.stringify(emulator.repliesFor(cid).slice(beforeKill).map((r) => r.text))}\nsurvivor: ${other.stderr().slice(-4_000)}`,
    })
  }, 240_000)
})
