/**
 * The project vs the seed README's design (bench/seed/main.mjs), side by side on the same emulator and
 * the same fixed-latency OpenCode stand-in, each started as users start it: `node dist/main.js` and
 * `node bench/seed/main.mjs` with the machine's `node`. Per message: overhead = push → reply minus
 * OpenCode's time, split into the inbound half (push → OpenCode request) and the outbound half
 * (OpenCode answer → webhook). Then the RSS of the whole process tree, and cold start to MCP `initialize`.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { startDingTalkEmulator, startFakeOpenCode } from "../dist/testing/index.js"

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const CONTENDERS = {
  // The seed design has no access control, rate limit or AI cards (it posts one markdown reply): the same work here.
  project: { script: path.resolve(HERE, "../dist/main.js"), extraEnv: { DINGTALK_RATE_LIMIT: "1000000", DINGTALK_ACCESS: "open", DINGTALK_CARDS: "off" } },
  seed: { script: path.join(HERE, "seed", "main.mjs"), extraEnv: {} },
} as const
export type Contender = keyof typeof CONTENDERS

/** The side-by-side run: warm-up (JIT, sessions of 100 conversations), then the measured messages. */
export const VERSUS = { warmup: 800, warmupRate: 40, messages: 200, rate: 10, latencyMs: 50 } as const

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** `pid` and every process below it. */
const treeOf = (pid: number): Set<number> => {
  const parentOf = new Map<number, number>()
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]))
    } catch {
      // gone meanwhile
    }
  }
  const tree = new Set([pid])
  for (let grew = true; grew;) {
    grew = false
    for (const [child, parent] of parentOf) if (tree.has(parent) && !tree.has(child)) (tree.add(child), (grew = true))
  }
  return tree
}

/** CPU time (user + system) in ms used so far by `pid` and every process below it. */
export const treeCpuMs = (pid: number): number => {
  let ticks = 0
  for (const member of treeOf(pid)) {
    try {
      const stat = readFileSync(`/proc/${member}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // gone meanwhile
    }
  }
  return ticks * 10 // USER_HZ is 100 on Linux
}

/** RSS in MB of `pid` and every process below it. */
export const treeRssMb = (pid: number): number => {
  let kb = 0
  for (const member of treeOf(pid)) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${member}/status`, "utf8"))?.[1] ?? 0)
    } catch {
      // gone meanwhile
    }
  }
  return round(kb / 1024)
}

/** The first `node` on PATH outside node_modules: what users' `node` is. */
export const machineNode = () => {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir.includes("node_modules")) continue
    try {
      const candidate = path.join(dir, "node")
      return { path: candidate, version: execFileSync(candidate, ["--version"]).toString().trim() }
    } catch {
      // not here
    }
  }
  return { path: process.execPath, version: process.version }
}

const stopTree = async (child: ChildProcess) => {
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.kill("SIGTERM")
  await Promise.race([exited, sleep(5_000)])
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
}

/** `messages` pushes at `rate`/s over 100 conversations against one contender; figures per message. */
export const messageRun = async (
  who: Contender,
  node: string,
  options: { messages: number; rate: number; latencyMs: number; warmup: number; warmupRate: number; profileDir?: string }
) => {
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode({ latencyMs: options.latencyMs })
  const cwd = mkdtempSync(path.join(tmpdir(), `bench-${who}-`))
  const { script, extraEnv } = CONTENDERS[who]
  // BENCH_NODE_ARGS: extra node flags for a comparison run (the launcher passes them on to its child).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "")
  const profile = options.profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`]
  const child = spawn(node, [...nodeArgs, ...profile, script], {
    cwd,
    env: {
      PATH: process.env.PATH ?? "", HOME: cwd, BRIDGE_STATE_DIR: cwd,
      DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
      OPENCODE_SERVER_URL: opencode.url, ...extraEnv,
      // BENCH_EXTRA_ENV: a JSON object of extra variables for a comparison run.
      ...(JSON.parse(process.env.BENCH_EXTRA_ENV ?? "{}") as Record<string, string>),
    },
    // stdin stays open (an MCP client that has not spoken yet); stderr is read, as an MCP client does.
    stdio: ["pipe", "pipe", "pipe"],
  })
  let stderr = ""
  child.stderr!.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4_000)))
  child.stdout!.resume()
  try {
    await emulator.waitForConnections(1, 20_000)
    const push = async (count: number, prefix: string, rate: number) => {
      const pushes: Array<{ text: string; pushedAt: number }> = []
      const start = performance.now()
      for (let i = 0; i < count; i++) {
        const due = start + (i * 1000) / rate
        while (performance.now() < due) await sleep(Math.max(0, due - performance.now() - 1))
        const text = `${prefix}-${i}`
        pushes.push({ text, pushedAt: emulator.pushMessage({ text, conversationId: `cid-${i % 100}` }).pushedAt })
      }
      const deadline = Date.now() + 120_000
      while (pushes.some((p) => !replyOf.has(`ECHO: ${p.text}`))) {
        for (const reply of emulator.replies) replyOf.set(reply.text, reply.at)
        if (Date.now() > deadline) throw new Error(`${who}: not every message was answered; stderr:\n${stderr}`)
        await sleep(20)
      }
      return pushes
    }
    const replyOf = new Map<string, number>()
    // Warm-up (JIT, keep-alive sockets, the sessions of the 100 conversations), then the measured messages
    // at a rate well inside what 3 turns of 50 ms can serve, so the figures are overhead, not queue wait.
    await push(options.warmup, "w", options.warmupRate)
    const cpuBefore = treeCpuMs(child.pid!)
    const pushes = await push(options.messages, "m", options.rate)
    const cpuMsPerMessage = round((treeCpuMs(child.pid!) - cpuBefore) / options.messages, 2)
    const prompts = new Map(opencode.prompts.map((p) => [p.text, p]))
    const inbound: Array<number> = []
    const outbound: Array<number> = []
    const overhead: Array<number> = []
    for (const p of pushes) {
      const prompt = prompts.get(p.text)!
      const into = prompt.startedAt - p.pushedAt
      const out = replyOf.get(`ECHO: ${p.text}`)! - prompt.endedAt!
      inbound.push(into)
      outbound.push(out)
      overhead.push(into + out)
    }
    await sleep(500)
    const rssMb = treeRssMb(child.pid!)
    const figures = (values: Array<number>) => ({ p50: round(percentile(values, 50), 2), p90: round(percentile(values, 90), 2), p99: round(percentile(values, 99), 2) })
    return { overhead: figures(overhead), inbound: figures(inbound), outbound: figures(outbound), cpuMsPerMessage, rssMb, messages: options.messages + options.warmup }
  } finally {
    await stopTree(child)
    await Promise.all([emulator.close(), opencode.close()])
  }
}

/** Spawn to the answer of MCP `initialize`; median of `runs` after one run that fills caches. */
export const coldStart = async (who: Contender, node: string, runs: number) => {
  const once = () =>
    new Promise<number>((resolve, reject) => {
      const cwd = mkdtempSync(path.join(tmpdir(), `bench-cold-${who}-`))
      const started = performance.now()
      const child = spawn(node, [CONTENDERS[who].script], {
        cwd,
        env: { PATH: process.env.PATH ?? "", HOME: cwd, BRIDGE_STATE_DIR: cwd, DINGTALK_CLIENT_ID: "bench", DINGTALK_CLIENT_SECRET: "bench", DINGTALK_API_URL: "http://127.0.0.1:9", OPENCODE_SERVER_URL: "http://127.0.0.1:9" },
        stdio: ["pipe", "pipe", "ignore"],
      })
      child.stdout.once("data", () => {
        resolve(performance.now() - started)
        child.kill("SIGTERM")
      })
      child.on("error", reject)
      child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } } })}\n`)
    })
  await once()
  const times: Array<number> = []
  for (let i = 0; i < runs; i++) {
    times.push(await once())
    await sleep(200)
  }
  return round(percentile(times, 50), 0)
}

// Alone: `node bench/versus.ts [project|seed] [messages] [rate] [--cpu-prof dir]` prints one contender's figures.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const who = (process.argv[2] ?? "project") as Contender
  const profileAt = process.argv.indexOf("--cpu-prof")
  const node = machineNode()
  const run = await messageRun(who, node.path, {
    ...VERSUS, messages: Number(process.argv[3] ?? VERSUS.messages), rate: Number(process.argv[4] ?? VERSUS.rate),
    ...(profileAt > 0 ? { profileDir: process.argv[profileAt + 1]! } : {}),
  })
  process.stdout.write(`${JSON.stringify({ who, node: node.version, ...run, coldStartMs: process.env.BENCH_NO_COLD ? 0 : await coldStart(who, node.path, 5) }, null, 2)}\n`)
}
