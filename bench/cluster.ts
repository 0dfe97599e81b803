/**
 * Cluster mode (`BRIDGE_DATABASE_URL`), measured with real processes (`node dist/main.js`) on a throwaway
 * PostgreSQL, the DingTalk emulator and the fake OpenCode (fixed latency), all on 127.0.0.1:
 * - throughput with 1 and 2 runners, each running 3 turns at once (`BRIDGE_CONCURRENCY=3`), one message in
 *   each of 480 conversations: conversations are spread over runners by a hash, and with few of them one
 *   runner gets a visibly larger share (60 conversations measured 1.79× where the split allowed ~1.85×);
 * - the per-message cost of cluster mode over the embedded mode: push → reply, one message at a time, with
 *   a zero-latency OpenCode (p50, p99).
 * Run alone with `node bench/cluster.ts` (after `npm run build`); `bench/run.ts` calls `clusterBench()`.
 * Skipped (returns undefined) where PostgreSQL is not installed.
 */
import { mkdtempSync } from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { startDingTalkEmulator, startFakeOpenCode, type DingTalkEmulator, type FakeOpenCode } from "../dist/testing/index.js"
import { spawnMain, type McpProcess } from "../test/support/mcpProcess.ts"
import { postgresMissing, startTestPostgres } from "../test/support/postgres.ts"

const percentile = (values: ReadonlyArray<number>, p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const freePort = () => new Promise<number>((resolve) => {
  const probe = net.createServer().listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as net.AddressInfo
    probe.close(() => resolve(port))
  })
})

const startRunner = async (emulator: DingTalkEmulator, opencode: FakeOpenCode, databaseUrl: string | undefined) => {
  const server = spawnMain({
    DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
    OPENCODE_SERVER_URL: opencode.url, DINGTALK_ACCESS: "open", DINGTALK_RATE_LIMIT: "60000", BRIDGE_CONCURRENCY: "3",
    BRIDGE_SINGLE_OWNER: "false", BRIDGE_STATE_DIR: mkdtempSync(path.join(os.tmpdir(), "bench-cluster-")),
    ...(databaseUrl === undefined ? {} : { BRIDGE_DATABASE_URL: databaseUrl, BRIDGE_RUNNER_HOST: "127.0.0.1", BRIDGE_RUNNER_PORT: String(await freePort()) }),
  })
  await server.initialize()
  return server
}

/** Pushes one message per conversation until every runner has answered some (its shards are assigned). */
const warmUp = async (emulator: DingTalkEmulator, runners: ReadonlyArray<McpProcess>, conversations: number) => {
  const answeredBy = (runner: McpProcess) => runner.stderr().includes("Answered")
  for (let round = 1; round <= 10; round++) {
    const before = emulator.replies.length
    for (let k = 0; k < conversations; k++) emulator.pushMessage({ text: `warm ${round}.${k}`, conversationId: `cid-${k}` })
    await emulator.waitForReplies(before + conversations, { timeoutMs: 120_000 })
    if (runners.length === 1 || runners.every(answeredBy)) return
  }
}

const throughput = async (databaseUrl: string, runnerCount: number, latencyMs: number, messages: number, conversations: number) => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode({ latencyMs })
  const runners: Array<McpProcess> = []
  for (let i = 0; i < runnerCount; i++) runners.push(await startRunner(emulator, opencode, databaseUrl))
  await emulator.waitForConnections(runnerCount, 20_000)
  // The warm-up (sessions, shards, entities) at no latency; the measured messages at `latencyMs`.
  opencode.setLatency(0)
  await warmUp(emulator, runners, conversations)
  opencode.setLatency(latencyMs)
  await sleep(1_000)
  const before = emulator.replies.length
  const started = performance.now()
  for (let i = 0; i < messages; i++) emulator.pushMessage({ text: `m${i}`, conversationId: `cid-${i % conversations}` })
  await emulator.waitForReplies(before + messages, { timeoutMs: 300_000 })
  const seconds = (performance.now() - started) / 1000
  for (const runner of runners) runner.kill()
  await Promise.all([emulator.close(), opencode.close()])
  return { runners: runnerCount, messages, conversations, latencyMs, seconds: round(seconds), perSecond: round(messages / seconds) }
}

const perMessage = async (databaseUrl: string | undefined, count: number) => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode()
  const runner = await startRunner(emulator, opencode, databaseUrl)
  await emulator.waitForConnections(1, 20_000)
  const times: Array<number> = []
  for (let i = 0; i < count + 5; i++) {
    const before = emulator.replies.length
    const pushed = emulator.pushMessage({ text: `one ${i}`, conversationId: "cid-cost" })
    const replies = await emulator.waitForReplies(before + 1, { timeoutMs: 60_000 })
    if (i >= 5) times.push(replies.at(-1)!.at - pushed.pushedAt) // the first five warm up
  }
  runner.kill()
  await Promise.all([emulator.close(), opencode.close()])
  return { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)) }
}

/** The cluster figures, or undefined without PostgreSQL. */
export const clusterBench = async () => {
  const missing = postgresMissing()
  if (missing !== undefined) {
    process.stderr.write(`cluster bench skipped: ${missing}\n`)
    return undefined
  }
  const pg = startTestPostgres(await freePort(), "bench_cluster_0")
  try {
    const one = await throughput(pg.createDatabase("bench_cluster_1"), 1, 200, 480, 480)
    const two = await throughput(pg.createDatabase("bench_cluster_2"), 2, 200, 480, 480)
    const embedded = await perMessage(undefined, 40)
    const cluster = await perMessage(pg.createDatabase("bench_cluster_3"), 40)
    return {
      throughput: { one, two, speedup: round(two.perSecond / one.perSecond) },
      perMessageMs: { embedded, cluster, extraP50: round(cluster.p50 - embedded.p50), extraP99: round(cluster.p99 - embedded.p99) },
    }
  } finally {
    pg.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await clusterBench(), null, 2))
