/**
 * `npm run bench`: the performance claims, measured in one run on this machine, printed as one table
 * and written to bench/results.json. Everything runs on 127.0.0.1: the DingTalk emulator, the fake
 * OpenCode (fixed latency) and the real bridge (built `dist/`), in this process unless noted.
 */
import { Layer } from "effect"
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { BridgeConfig, BridgeLayer, Bridge, Delivery } from "../dist/index.js"
import { startDingTalkEmulator, startFakeOpenCode, type DingTalkEmulator, type FakeOpenCode } from "../dist/testing/index.js"
import { coldStart as coldStartOf, machineNode, messageRun, VERSUS } from "./versus.ts"
import { clusterBench } from "./cluster.ts"
import { directPromptTimes } from "./directCalls.ts"
import { Quiet, startInProcess } from "./inProcessBridge.ts"
import { pushAtRate } from "./pacedPushes.ts"
import { ROUND_ONE, roundOneSideBySide } from "./roundOne.ts"

const HERE = path.dirname(fileURLToPath(import.meta.url))

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

/** Starts a bridge in this process; returns a stop function and a way to run effects with its services. */
const startBridge = async (emulator: DingTalkEmulator, opencode: FakeOpenCode, env: Record<string, string> = {}) => {
  const layer = BridgeLayer.pipe(
    Layer.provideMerge(BridgeConfig.layerFrom({
      DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
      OPENCODE_SERVER_URL: opencode.url, DINGTALK_RATE_LIMIT: "60000", BRIDGE_BACKLOG: "100000", DINGTALK_ACCESS: "open", ...env,
    })),
    Layer.provideMerge(Quiet)
  )
  const bridge = await startInProcess(layer, Bridge.use((b) => b.run))
  await emulator.waitForConnections(1, 10_000)
  return bridge
}

/** Pushes `count` messages at `rate` per second over 100 conversations; per-message timings in ms. */
const overheadAtRate = async (rate: number, count: number) => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode()
  const bridge = await startBridge(emulator, opencode)
  const pushes = await pushAtRate(emulator, rate, count)
  await emulator.waitForReplies(count, { timeoutMs: 60_000 })
  const prompts = new Map(opencode.prompts.map((p) => [p.text, p]))
  const replies = new Map(emulator.replies.map((r) => [r.text.replace(/^ECHO: /, ""), r]))
  const acks = new Map(emulator.acks.map((a) => [a.frameId, a]))
  const overhead: Array<number> = []
  const ack: Array<number> = []
  for (const push of pushes) {
    const prompt = prompts.get(push.text)!
    const reply = replies.get(push.text)!
    overhead.push(prompt.startedAt - push.pushedAt + (reply.at - prompt.endedAt!))
    ack.push(acks.get(push.frameId)!.at - push.pushedAt)
  }
  await bridge.stop()
  await Promise.all([emulator.close(), opencode.close()])
  return { rate, count, overheadP50: round(percentile(overhead, 50)), overheadP99: round(percentile(overhead, 99)), ackP50: round(percentile(ack, 50)), ackP99: round(percentile(ack, 99)) }
}

/** One conversation, one message at a time: through the bridge vs calling the same fake OpenCode directly. */
const endToEndRatio = async (latencyMs: number, count: number) => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode({ latencyMs })
  const bridge = await startBridge(emulator, opencode)
  const viaBridge: Array<number> = []
  for (let i = 0; i < count; i++) {
    const pushed = emulator.pushMessage({ text: `e-${i}`, conversationId: "cid-e2e" })
    const replies = await emulator.waitForReplies(i + 1, { conversationId: "cid-e2e", timeoutMs: 10_000 })
    viaBridge.push(replies[i]!.at - pushed.pushedAt)
  }
  const direct = await directPromptTimes(opencode.url, count)
  await bridge.stop()
  await Promise.all([emulator.close(), opencode.close()])
  const bridgeMs = percentile(viaBridge, 50)
  const directMs = percentile(direct, 50)
  return { latencyMs, bridgeP50Ms: round(bridgeMs), directP50Ms: round(directMs), ratio: round(bridgeMs / directMs, 3) }
}

/** `messages` spread over as many conversations, OpenCode latency L: throughput vs the ideal concurrency / L. */
const throughput = async (concurrency: number, latencyMs: number, messages: number) => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode({ latencyMs })
  const bridge = await startBridge(emulator, opencode, { BRIDGE_CONCURRENCY: String(concurrency) })
  const started = performance.now()
  for (let i = 0; i < messages; i++) emulator.pushMessage({ text: `t-${i}`, conversationId: `cid-${i}` })
  await emulator.waitForReplies(messages, { timeoutMs: 120_000 })
  const seconds = (performance.now() - started) / 1000
  await bridge.stop()
  await Promise.all([emulator.close(), opencode.close()])
  const perSecond = messages / seconds
  return { concurrency, latencyMs, messagesPerSecond: round(perSecond), fractionOfIdeal: round(perSecond / (concurrency / (latencyMs / 1000)), 3) }
}

/** Sequential replies through Delivery with the keep-alive pool vs a new connection per send. */
const keepAlive = async (sends: number) => {
  const timeOne = async (keepAliveOn: boolean) => {
    const emulator = await startDingTalkEmulator()
    const opencode = await startFakeOpenCode()
    const bridge = await startBridge(emulator, opencode, { DINGTALK_HTTP_KEEP_ALIVE: String(keepAliveOn) })
    emulator.pushMessage({ text: "hi", conversationId: "cid-ka" })
    await emulator.waitForReplies(1, { conversationId: "cid-ka" })
    const connectionsBefore = emulator.httpConnections
    const started = performance.now()
    for (let i = 0; i < sends; i++) await bridge.use(Delivery.use((d) => d.send({ conversationId: "cid-ka", text: `reply ${i}`, format: "text" })))
    const ms = performance.now() - started
    const connections = emulator.httpConnections - connectionsBefore
    await bridge.stop()
    await Promise.all([emulator.close(), opencode.close()])
    return { msPerSend: ms / sends, connections }
  }
  await timeOne(true) // warm-up
  const pooled = await timeOne(true)
  const fresh = await timeOne(false)
  return {
    sends,
    keepAliveMsPerSend: round(pooled.msPerSend, 3),
    freshMsPerSend: round(fresh.msPerSend, 3),
    freshOverKeepAlive: round(fresh.msPerSend / pooled.msPerSend, 2),
    keepAliveConnections: pooled.connections,
    freshConnections: fresh.connections,
  }
}

/** Spawn `node dist/main.js` to the answer of MCP `initialize`; median of `runs`. */
const coldStart = async (node: string, runs: number) => {
  const main = path.resolve(HERE, "../dist/main.js")
  const once = () =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now()
      const child = spawn(node, [main], {
        env: { PATH: process.env.PATH ?? "", DINGTALK_CLIENT_ID: "bench", DINGTALK_CLIENT_SECRET: "bench", DINGTALK_API_URL: "http://127.0.0.1:9", LOG_LEVEL: "none" },
        stdio: ["pipe", "pipe", "ignore"],
      })
      child.stdout.once("data", () => {
        resolve(performance.now() - started)
        child.stdin.end()
      })
      child.on("error", reject)
      child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } } })}\n`)
    })
  await once() // fills the V8 code cache, as any earlier start would have
  const times: Array<number> = []
  for (let i = 0; i < runs; i++) times.push(await once())
  return round(percentile(times, 50), 0)
}

const memory = () =>
  new Promise<{ messages: number; seconds: number; rssSamplesMb: Array<number>; heapSamplesMb: Array<number> }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", path.join(HERE, "memory.ts"), "1000000"], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`memory bench exited ${code}`))))
  })

/** Live answers in AI cards, with a real `opencode serve` (bench/cards.ts, in a child process). */
const cards = () =>
  new Promise<{ turns: number; updateMs: number; firstVisibleP50Ms: number; firstVisibleP99Ms: number; updatesPerTurnP50: number; workPerUpdate: { microsPerDelta: number; microsPerUpdate: number; answerBytes: number } }>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(HERE, "cards.ts"), "8"], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`cards bench exited ${code}`))))
  })

const log = (line: string) => process.stderr.write(`${line}\n`)
log("bridge overhead at 50 and 200 msg/s …")
const load = [await overheadAtRate(50, 500), await overheadAtRate(200, 1000)]
log("end to end vs direct …")
const e2e = await endToEndRatio(100, 40)
log(`one message at a time, this code vs round 1 (${ROUND_ONE}), fresh processes alternating …`)
const roundOne = await roundOneSideBySide(3, 60)
log("throughput at concurrency 1 / 3 / 5 …")
const through = [await throughput(1, 200, 20), await throughput(3, 200, 60), await throughput(5, 200, 100)]
log("keep-alive vs fresh connections …")
const pool = await keepAlive(300)
log("memory over 1 000 000 messages (child process) …")
const mem = await memory()
log("AI cards with a real OpenCode (child process) …")
const card = await cards()
log("cold start …")
const cold = await coldStart(process.execPath, 5)
const machine = machineNode()
log(`project vs the seed's design: ${VERSUS.warmup} + ${VERSUS.messages} messages each, both at once, started with ${machine.path} ${machine.version} …`)
// Both at once: on a shared machine they meet the same load, and the run takes half the time.
const [projectRun, seedRun] = await Promise.all([messageRun("project", machine.path, VERSUS), messageRun("seed", machine.path, VERSUS)])
const versus = {
  ...VERSUS,
  node: machine.version,
  project: { ...projectRun, coldStartMs: await coldStartOf("project", machine.path, 5) },
  seed: { ...seedRun, coldStartMs: await coldStartOf("seed", machine.path, 5) },
}

const results = {
  date: new Date().toISOString().slice(0, 10),
  machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? "unknown", memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  overhead: load,
  endToEnd: e2e,
  versusRoundOne: roundOne,
  throughput: through,
  keepAlive: pool,
  memory: { ...mem, finalRssMb: mem.rssSamplesMb.at(-1), heapGrowthMb: round(mem.heapSamplesMb.at(-1)! - mem.heapSamplesMb[0]!, 1) },
  cards: card,
  coldStartMs: { pinnedNode: cold },
  versusSeed: versus,
  cluster: (log("cluster mode: 1 vs 2 runners, per-message cost (PostgreSQL) …"), await clusterBench()),
}
writeFileSync(path.join(HERE, "results.json"), `${JSON.stringify(results, null, 2)}\n`)

const rows: Array<[string, string, string]> = [
  ...load.map((l): [string, string, string] => [`bridge overhead @ ${l.rate} msg/s (p50 / p99)`, `${l.overheadP50} / ${l.overheadP99} ms`, "p50 < 1 ms, p99 < 5 ms"]),
  ...load.map((l): [string, string, string] => [`ack latency @ ${l.rate} msg/s (p50 / p99)`, `${l.ackP50} / ${l.ackP99} ms`, "—"]),
  [`end to end vs direct (L = ${e2e.latencyMs} ms, p50)`, `${e2e.bridgeP50Ms} / ${e2e.directP50Ms} ms = ${e2e.ratio}`, "≤ 1.05"],
  ...through.map((t): [string, string, string] => [`throughput, concurrency ${t.concurrency}, L = ${t.latencyMs} ms`, `${t.messagesPerSecond} msg/s = ${t.fractionOfIdeal} × n/L`, "≈ 1 × n/L"]),
  [`keep-alive vs new connection per send (${pool.sends} sends)`, `${pool.keepAliveMsPerSend} vs ${pool.freshMsPerSend} ms = ${pool.freshOverKeepAlive}× (${pool.keepAliveConnections} vs ${pool.freshConnections} connections)`, "seed: 75 % faster"],
  ["memory after 1 000 000 messages (decode + dedup + route)", `RSS ${results.memory.finalRssMb} MB; live heap ${mem.heapSamplesMb.at(-1)} MB, ${results.memory.heapGrowthMb >= 0 ? "+" : "−"}${Math.abs(results.memory.heapGrowthMb)} MB over the run (${mem.seconds} s)`, "flat, < 120 MB"],
  [`first token → AI card visible (real OpenCode, p50 / p99, ${card.turns} turns)`, `${card.firstVisibleP50Ms} / ${card.firstVisibleP99Ms} ms`, `≤ ${card.updateMs + 150} ms (interval + 150)`],
  [`bridge work per card update / per OpenCode delta (${card.workPerUpdate.answerBytes / 1000} KB answer)`, `${card.workPerUpdate.microsPerUpdate} / ${card.workPerUpdate.microsPerDelta} µs`, "—"],
  ["cold start to MCP initialize (pinned Node 22, median)", `${cold} ms`, "< 300 ms"],
]
const width = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length))]
process.stdout.write(`\nBenchmarks ${results.date} — ${results.machine.cores} cores, ${results.machine.cpu}, Node ${results.machine.node}\n\n`)
for (const [what, value, goal] of rows) process.stdout.write(`${what.padEnd(width[0]!)}  ${value.padEnd(width[1]!)}  ${goal}\n`)

const p = versus.project
const q = versus.seed
const mark = (ours: number, theirs: number, goal: number) => `${ours <= theirs ? "ahead" : "behind"}${ours <= goal ? "" : ", goal not met"}`
const sideBySide: Array<[string, string, string, string]> = [
  ["overhead p50 (push → reply − OpenCode)", `${p.overhead.p50} ms`, `${q.overhead.p50} ms`, `≤ 5 ms; ${mark(p.overhead.p50, q.overhead.p50, 5)}`],
  ["overhead p99", `${p.overhead.p99} ms`, `${q.overhead.p99} ms`, `≤ 15 ms; ${mark(p.overhead.p99, q.overhead.p99, 15)}`],
  ["inbound half p50 / p99 (push → OpenCode request)", `${p.inbound.p50} / ${p.inbound.p99} ms`, `${q.inbound.p50} / ${q.inbound.p99} ms`, "—"],
  ["outbound half p50 / p99 (answer → webhook)", `${p.outbound.p50} / ${p.outbound.p99} ms`, `${q.outbound.p50} / ${q.outbound.p99} ms`, "—"],
  ["CPU per message (process tree, user + system)", `${p.cpuMsPerMessage} ms`, `${q.cpuMsPerMessage} ms`, `— ; ${p.cpuMsPerMessage <= q.cpuMsPerMessage ? "ahead" : "behind"}`],
  [`process-tree RSS after ${p.messages} messages`, `${p.rssMb} MB`, `${q.rssMb} MB`, `≤ 90 MB; ${mark(p.rssMb, q.rssMb, 90)}`],
  ["cold start to MCP initialize (median)", `${p.coldStartMs} ms`, `${q.coldStartMs} ms`, `≤ 300 ms; ${mark(p.coldStartMs, q.coldStartMs, 300)}`],
]
const w = [0, 1, 2].map((i) => Math.max(...sideBySide.map((r) => r[i]!.length), ["", "project", "seed design"][i]!.length))
process.stdout.write(`\nProject vs the seed's design: same emulator, OpenCode stand-in at ${versus.latencyMs} ms, ${versus.warmup} messages at ${versus.warmupRate}/s then ${versus.messages} measured at ${versus.rate}/s, both started with node ${versus.node}\n\n`)
process.stdout.write(`${"".padEnd(w[0]!)}  ${"project".padEnd(w[1]!)}  ${"seed design".padEnd(w[2]!)}  goal\n`)
for (const [what, ours, theirs, goal] of sideBySide) process.stdout.write(`${what.padEnd(w[0]!)}  ${ours.padEnd(w[1]!)}  ${theirs.padEnd(w[2]!)}  ${goal}\n`)

if ("skipped" in roundOne) process.stdout.write(`\nThis code vs round 1: skipped (${roundOne.skipped})\n`)
else {
  const now = roundOne.current
  const then = roundOne.roundOne
  const spread = (values: ReadonlyArray<number>, unit: string) => `${Math.min(...values)}–${Math.max(...values)}${unit}`
  const verdict = (ours: number, theirs: number) => (ours <= theirs ? "no worse ✔" : "worse — not met")
  process.stdout.write(`\nThis code vs round 1 (${roundOne.commit}), one message at a time, OpenCode latency 100 ms: ${now.runs.length} fresh processes of each, alternating, ${roundOne.messages} messages each\n\n`)
  process.stdout.write(`overhead p50, median of runs (range)   ${now.overheadP50} ms (${spread(now.runs.map((r) => r.overheadP50), " ms")}) vs ${then.overheadP50} ms (${spread(then.runs.map((r) => r.overheadP50), " ms")})   ${verdict(now.overheadP50, then.overheadP50)}\n`)
  process.stdout.write(`ratio to a direct call, median (range)  ${now.ratio} (${spread(now.runs.map((r) => r.ratio), "")}) vs ${then.ratio} (${spread(then.runs.map((r) => r.ratio), "")})   ${verdict(now.ratio, then.ratio)}\n`)
}
process.stdout.write("\nwritten to bench/results.json\n")
