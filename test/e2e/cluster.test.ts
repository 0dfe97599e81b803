/**
 * Cluster mode with PostgreSQL, as users run it: two `node dist/main.js` runners on one database, each with
 * its own DingTalk connection to one emulator (which spreads pushes at random, as DingTalk does).
 * Needs PostgreSQL: `.ci/run` starts one (BRIDGE_TEST_DATABASE_URL); otherwise this file starts its own
 * from the PostgreSQL 15 packages, and is skipped (saying why) where there are none.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cleanUpAt } from "../../src/app/ClusterRetention.js"
import { startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { bridgeEnv, startClusterRunner } from "../support/bridgeInstances.js"
import { spawnMain, type McpProcess } from "../support/mcpProcess.js"
import { postgresMissing, startTestPostgres, type TestPostgres } from "../support/postgres.js"
import { cleanupAfterEach, freePort } from "../support/resources.js"

const missing = postgresMissing()
if (missing !== undefined) console.warn(`test/e2e/cluster.test.ts skipped: it needs PostgreSQL (${missing})`)

const onCleanup = cleanupAfterEach()
let pg: TestPostgres | undefined
let databases = 0

beforeAll(async () => {
  if (missing === undefined) pg = startTestPostgres(await freePort(), "bridge_cluster_0")
}, 60_000)
afterAll(() => pg?.stop())

const LIMIT = 20
const WINDOW_MS = 2_000

const setup = async () => {
  const url = pg!.createDatabase(`bridge_cluster_${++databases}`)
  const emulator = await startDingTalkEmulator({ redeliverAfterMs: 1_500, enforceRateLimit: { limit: LIMIT, windowMs: WINDOW_MS } })
  const opencode = await startFakeOpenCode({ latencyMs: 1_000 })
  onCleanup(() => emulator.close(), () => opencode.close())
  const start = () =>
    startClusterRunner(onCleanup, emulator, opencode, url, {
      DINGTALK_RATE_LIMIT: String(LIMIT),
      DINGTALK_RATE_WINDOW_MS: String(WINDOW_MS),
      BRIDGE_SHARD_LOCK_EXPIRATION_MS: "10000",
      // JSON lines, so that the warm-up reads which runner answered which conversation.
      LOG_FORMAT: "json",
    })
  return { emulator, opencode, start, url }
}

const psql = (url: string, query: string) => {
  const db = new URL(url)
  return execFileSync("psql", ["-h", db.hostname, "-p", db.port, "-U", db.username || "postgres", "-d", db.pathname.slice(1), "-qAtc", query]).toString().trim()
}
const cleanUp = (url: string, now: number) =>
  Effect.runPromise(cleanUpAt(now).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))))

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Candidate conversations, with IDs shaped like DingTalk's (`cid` + base64). Short IDs such as `cid-0` …
 * `cid-7` fall on only four of the cluster's shards, which the two runners' hash ring can all give to one.
 */
const CANDIDATES = Array.from({ length: 16 }, (_, k) => `cid${createHash("sha256").update(`conversation ${k}`).digest("base64").slice(0, 22)}==`)

/** The conversations `server` answered, from its log (JSON lines) after offset `from`. */
const answeredBy = (server: McpProcess, from: number) =>
  new Set(server.stderr().slice(from).split("\n").flatMap((line) => {
    try {
      const entry = JSON.parse(line)
      return JSON.stringify(entry.message).includes("Answered") ? [String(entry.annotations?.conversationId)] : []
    } catch {
      return [] // not a whole line of JSON: the first may start mid-line
    }
  }))
const structured = async (server: McpProcess, tool: string, args: Record<string, unknown> = {}) => (await server.callTool(tool, args)).structuredContent

/** The most sends in any window of `windowMs` (arrival times in ms). */
const busiestWindow = (times: ReadonlyArray<number>, windowMs: number) => {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}

describe.skipIf(missing !== undefined)("cluster mode (PostgreSQL)", () => {
  it("two runners, 60 messages over 8 conversations with duplicates, one runner SIGKILLed mid-stream: each answered once, in order", async () => {
    const { emulator, opencode, start, url } = await setup()
    const a = await start()
    const b = await start()
    await emulator.waitForConnections(2, 15_000)
    // Warm-up rounds, one message to each candidate conversation, until two rounds in a row show the same
    // owner for each: the shards are shared out. The test then takes four conversations of each runner.
    let rounds = 0
    let owners = new Map<string, string>()
    const deadline = Date.now() + 90_000
    for (let settled = false; !settled;) {
      ++rounds
      if (Date.now() > deadline) throw new Error(`the two runners did not share the conversations after ${rounds - 1} warm-up rounds (90 s): ${JSON.stringify([...owners])}`)
      const from = { A: a.stderr().length, B: b.stderr().length }
      for (const [k, conversationId] of CANDIDATES.entries()) emulator.pushMessage({ text: `hello ${k} (round ${rounds})`, conversationId })
      await emulator.waitForReplies(CANDIDATES.length * rounds, { timeoutMs: 60_000 })
      await settle(1_000)
      const now = new Map([...answeredBy(a, from.A)].map((id) => [id, "A"]))
      for (const id of answeredBy(b, from.B)) now.set(id, now.has(id) ? "both" : "B")
      settled = now.size === CANDIDATES.length && new Set(now.values()).size === 2 && !new Set(now.values()).has("both") &&
        [...now].every(([id, runner]) => owners.get(id) === runner)
      owners = now
    }
    const ownedBy = (runner: string) => CANDIDATES.filter((id) => owners.get(id) === runner)
    const [fewer, more] = [ownedBy("A"), ownedBy("B")].sort((x, y) => x.length - y.length)
    const conversations = [...fewer!.slice(0, 4), ...more!.slice(0, 8 - Math.min(4, fewer!.length))]
    const warmUp = new Set(emulator.replies.map((reply) => reply.text))

    const sent: Array<{ conversationId: string; text: string; frameId: string }> = []
    const push = async (i: number) => {
      const conversationId = conversations[i % 8]!
      const text = `m${String(i).padStart(2, "0")} of ${conversationId}`
      const pushed = emulator.pushMessage({ text, conversationId })
      sent.push({ conversationId, text, frameId: pushed.frameId })
      // Every fifth message comes again (DingTalk's redelivery): same msgId, maybe the other runner.
      if (i % 5 === 0) {
        await emulator.waitForAck(pushed.frameId)
        emulator.redeliver(pushed.frameId)
      }
      await settle(30)
    }
    // Longer turns for this half, so that turns are still running on both runners when the pushes end,
    // also when this machine is busy and the pushes come slowly.
    opencode.setLatency(2_500)
    for (let i = 0; i < 30; i++) await push(i)
    // Every push so far has been acked and handed to its conversation; turns are running on both runners.
    for (const message of sent) await emulator.waitForAck(message.frameId)
    // The runner about to die is mid-turn (its own count, as `dingtalk_get_performance` gives it), and so is
    // the other: more than one runner's worth (3 each) of turns in OpenCode.
    const inFlightOf = async (runner: McpProcess) => (await structured(runner, "dingtalk_get_performance")).queue.inFlight as number
    for (const deadline = Date.now() + 20_000; (await inFlightOf(b)) < 1 || opencode.inFlight < 4;) {
      if (Date.now() > deadline) {
        console.error("cluster test diagnostics: replies", emulator.replies.length, "prompts", opencode.prompts.length, "in flight: A", await inFlightOf(a), "B", await inFlightOf(b))
        for (const [name, runner] of [["A", a], ["B", b]] as const) {
          const file = path.join(tmpdir(), `cluster-runner-${name}-${process.pid}.log`)
          writeFileSync(file, runner.stderr())
          console.error(`runner ${name} log in ${file}; its warnings:\n`, runner.stderr().split("\n").filter((l) => /WARN|ERROR|FATAL/.test(l)).join("\n"))
        }
        throw new Error(`expected turns in flight on both runners, saw ${opencode.inFlight}`)
      }
      await settle(20)
    }
    expect(await inFlightOf(b)).toBeLessThanOrEqual(3)
    b.child.kill("SIGKILL")
    await b.exited
    opencode.setLatency(1_000)
    for (let i = 30; i < 60; i++) await push(i)

    await emulator.waitForReplies(60 + warmUp.size, { timeoutMs: 90_000 }).catch((error) => {
      const got = new Set(emulator.replies.map((r) => r.text))
      console.error("cluster test diagnostics: missing", sent.filter((m) => !got.has(`ECHO: ${m.text}`)).map((m) => m.text), "prompts", opencode.prompts.length, "rateLimited", emulator.rateLimited, "attempts", emulator.webhookAttempts)
      console.error("runner A log", a.stderr().split("\n").filter((l) => /WARN|ERROR|resum|asked|went out/i.test(l)).slice(-40).join("\n"))
      const db = new URL(url)
      for (const q of ["select processed, count(*) from cluster_messages group by processed", "select payload::text from cluster_messages where not processed limit 5"]) {
        try {
          console.error(q, execFileSync("psql", ["-h", db.hostname, "-p", db.port, "-U", "postgres", "-d", db.pathname.slice(1), "-qAtc", q]).toString().slice(0, 1500))
        } catch (e) { console.error("query failed", String(e)) }
      }
      throw error
    })

    await settle(3_000)
    const replies = emulator.replies.map((reply) => reply.text).filter((text) => !warmUp.has(text))
    // Exactly once each.
    expect(replies).toHaveLength(60)
    expect(new Set(replies).size).toBe(60)
    for (const message of sent) expect(replies).toContain(`ECHO: ${message.text}`)
    // In order within each conversation.
    for (const conversationId of conversations) {
      const expected = sent.filter((m) => m.conversationId === conversationId).map((m) => `ECHO: ${m.text}`)
      expect(emulator.repliesFor(conversationId).map((r) => r.text).filter((text) => !warmUp.has(text))).toEqual(expected)
    }
    // The dead runner's turn in flight was taken over: found in OpenCode by its derived ID, not asked twice.
    expect(a.stderr()).toMatch(/asked before by another runner|went out before its runner stopped/)
    // One budget for the robot across both runners.
    expect(busiestWindow(emulator.replies.map((r) => r.at), WINDOW_MS)).toBeLessThanOrEqual(LIMIT)
    // The survivor lists every conversation, also those only the dead runner received.
    const listed = await structured(a, "dingtalk_list_conversations", { limit: 100 })
    expect(listed.conversations.map((c: { conversationId: string }) => c.conversationId).sort()).toEqual(
      [...CANDIDATES].sort()
    )

    // An MCP-only client (as OpenCode launches it on a host without a runner): no DingTalk connection,
    // every conversation listed, and a send that goes out within the robot's shared budget.
    const connectionsBefore = emulator.totalConnections
    const client = spawnMain({
      ...bridgeEnv(emulator, opencode),
      DINGTALK_RATE_LIMIT: String(LIMIT),
      DINGTALK_RATE_WINDOW_MS: String(WINDOW_MS),
      BRIDGE_STATE_DIR: mkdtempSync(path.join(tmpdir(), "dingtalk-cluster-client-")),
      BRIDGE_DATABASE_URL: url,
      BRIDGE_CLUSTER_ROLE: "client",
    })
    onCleanup(() => client.kill())
    await client.initialize()
    const fromClient = await structured(client, "dingtalk_list_conversations", { limit: 100 })
    expect(fromClient.conversations.map((c: { conversationId: string }) => c.conversationId).sort()).toEqual(
      [...CANDIDATES].sort()
    )
    const sentFromClient = await structured(client, "dingtalk_send_message", { conversationId: conversations[5], message: "note from the client", format: "text" })
    expect(sentFromClient.parts).toBe(1)
    await emulator.waitForReplies(61 + warmUp.size, { timeoutMs: 10_000 })
    expect(emulator.repliesFor(conversations[5]!).at(-1)!.text).toBe("note from the client")
    expect((await structured(client, "dingtalk_get_stats")).connection.state).toBe("client")
    expect(client.stderr()).toContain("cluster client (MCP tools only")
    await settle(500)
    expect(emulator.totalConnections).toBe(connectionsBefore)
    expect(busiestWindow(emulator.replies.map((r) => r.at), WINDOW_MS)).toBeLessThanOrEqual(LIMIT)

    // Retention: a week on, the answered messages go; three months on, the idle conversations too.
    const count = (table: string) => Number(psql(url, `select count(*) from ${table}`))
    expect(count("cluster_messages")).toBeGreaterThanOrEqual(60)
    expect(count("bridge_deliveries")).toBeGreaterThanOrEqual(60)
    const inAWeek = await cleanUp(url, Date.now() + 8 * 86_400_000)
    expect(inAWeek.messages).toBeGreaterThanOrEqual(60)
    expect(count("cluster_messages where processed")).toBe(0)
    expect(count("bridge_deliveries")).toBe(0)
    expect(count("bridge_conversations")).toBe(CANDIDATES.length)
    expect((await cleanUp(url, Date.now() + 91 * 86_400_000)).conversations).toBe(CANDIDATES.length)
  }, 240_000)
})
