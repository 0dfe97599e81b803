/**
 * Live answers in AI cards: the model's first token → the card visible in DingTalk (p50, p99), with a real
 * `opencode serve` (offline, the fake model streaming) and the bridge in this process; and the bridge's own
 * work per card update (folding OpenCode's deltas, composing the card text and the request body), measured
 * apart from the network. Run alone: `node bench/cards.ts [turns]` (after `npm run build`); prints JSON.
 */
import { Effect, Layer, Logger, References } from "effect"
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import net from "node:net"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { Bridge, BridgeConfig, BridgeLayer } from "../dist/index.js"
import { LiveTurnState } from "../dist/opencode/LiveTurnState.js"
import { liveContent } from "../dist/pipeline/LiveTurn.js"
import { startDingTalkEmulator, startFakeModel, streamedText } from "../dist/testing/index.js"

const HERE = path.dirname(fileURLToPath(import.meta.url))
const OPENCODE = path.resolve(HERE, "../node_modules/.bin/opencode")
const UPDATE_MS = 1_000
const Quiet = Layer.mergeAll(Logger.layer([Logger.withConsoleError(Logger.formatLogFmt)]), Layer.succeed(References.MinimumLogLevel, process.env.BENCH_LOGS ? "Debug" : "None"))
const percentile = (values: ReadonlyArray<number>, p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = net.createServer()
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })

/** `opencode serve` in a temp dir with an isolated home, the fake model as its only provider. */
const startOpenCode = async (modelUrl: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), "opencode-bench-"))
  const home = (name: string) => {
    const folder = path.join(dir, name)
    mkdirSync(folder)
    return folder
  }
  const port = await freePort()
  writeFileSync(path.join(dir, "opencode.json"), JSON.stringify({
    provider: { fake: { npm: "@ai-sdk/openai-compatible", name: "fake", options: { baseURL: modelUrl, apiKey: "x" }, models: { echo: { name: "echo", tool_call: true } } } },
    model: "fake/echo", small_model: "fake/echo", autoupdate: false, share: "disabled", permission: { "*": "allow" },
  }))
  const env = { PATH: process.env.PATH ?? "", HOME: home("home"), XDG_CONFIG_HOME: home("config"), XDG_DATA_HOME: home("data"), XDG_STATE_HOME: home("state"), XDG_CACHE_HOME: home("cache") }
  const child = spawn(OPENCODE, ["serve", "--port", String(port), "--hostname", "127.0.0.1"], { cwd: dir, env, stdio: "ignore" })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    const ok = await fetch(`${url}/session`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false)
    if (ok) break
    if (Date.now() > deadline) throw new Error("opencode serve did not start")
    await sleep(200)
  }
  return {
    url,
    stop: async () => {
      const exited = new Promise((resolve) => child.on("exit", resolve))
      child.kill("SIGTERM")
      // It does not always leave on SIGTERM while a client holds its event stream.
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000)
      await exited
      clearTimeout(timer)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** First token → card visible, over `turns` streamed answers (the first one warms OpenCode up and is not counted). */
const firstVisible = async (turns: number) => {
  const model = await startFakeModel()
  const emulator = await startDingTalkEmulator()
  const opencode = await startOpenCode(model.url)
  const layer = BridgeLayer.pipe(
    Layer.provideMerge(BridgeConfig.layerFrom({
      DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
      OPENCODE_SERVER_URL: opencode.url, DINGTALK_CARD_UPDATE_MS: String(UPDATE_MS), DINGTALK_ACCESS: "open",
    })),
    Layer.provideMerge(Quiet)
  )
  const latencies: Array<number> = []
  const updates: Array<number> = []
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(layer)
    yield* Effect.forkScoped(Effect.provideContext(Bridge.use((bridge) => bridge.run), context))
    yield* Effect.promise(async () => {
      await emulator.waitForConnections(1, 10_000)
      for (let i = 0; i <= turns; i++) {
        const conversationId = `cid-bench-${i}`
        const before = model.streams.length
        emulator.pushMessage({ text: "STREAM 20 150", conversationId, senderStaffId: `staff-bench-${i}` })
        const [card] = await emulator.waitForCards(1, { conversationId, timeoutMs: 60_000 })
        const done = await emulator.waitForCardFinished(card!.outTrackId, 60_000)
        if (done.text !== streamedText(20)) throw new Error(`card ${i} ended with ${JSON.stringify(done.text)}`)
        if (i === 0) continue
        latencies.push(done.createdAt - model.streams[before]!.firstChunkAt!)
        updates.push(done.calls.filter((c) => c.kind === "streaming" && !c.isFinalize).length)
      }
    })
  })))
  await opencode.stop()
  await Promise.all([model.close(), emulator.close()])
  return { turns, updateMs: UPDATE_MS, firstVisibleP50Ms: round(percentile(latencies, 50)), firstVisibleP99Ms: round(percentile(latencies, 99)), updatesPerTurnP50: percentile(updates, 50) }
}

/**
 * The bridge's own work: per OpenCode delta (folded into the turn), and per card update (the card text and the
 * request body built, once per update however many deltas came in between) for an answer of `answerBytes`.
 * Median of five runs: the machine is shared.
 */
const workPerUpdate = (deltas: number, answerBytes: number) => {
  const once = () => {
    const state = new LiveTurnState("ses_b", "msg_user")
    state.apply({ type: "message.updated", properties: { info: { id: "msg_user", sessionID: "ses_b", role: "user" } } }, 0)
    state.apply({ type: "message.updated", properties: { info: { id: "msg_a", sessionID: "ses_b", role: "assistant", parentID: "msg_user" } } }, 0)
    state.apply({ type: "message.part.updated", properties: { part: { id: "prt_t", sessionID: "ses_b", messageID: "msg_a", type: "text", text: "" } } }, 0)
    const delta = "x".repeat(Math.max(1, Math.floor(answerBytes / deltas)))
    let foldMs = 0
    let composeMs = 0
    let bytes = 0
    for (let i = 0; i < deltas; i++) {
      const folded = performance.now()
      state.apply({ type: "message.part.delta", properties: { sessionID: "ses_b", messageID: "msg_a", partID: "prt_t", field: "text", delta } }, i)
      const composed = performance.now()
      foldMs += composed - folded
      // An update every 20 deltas (about one per second for a model at 20 tokens/s).
      if (i % 20 === 19) {
        const content = liveContent(state, 16_000)
        bytes += JSON.stringify({ outTrackId: "card_x", guid: "g", key: "msgContent", content, isFull: true, isFinalize: false, isError: false }).length
        composeMs += performance.now() - composed
      }
    }
    return { microsPerDelta: (foldMs * 1000) / deltas, microsPerUpdate: (composeMs * 1000) / (deltas / 20), bytes }
  }
  const runs = Array.from({ length: 5 }, once)
  return { deltas, answerBytes, microsPerDelta: round(percentile(runs.map((r) => r.microsPerDelta), 50), 2), microsPerUpdate: round(percentile(runs.map((r) => r.microsPerUpdate), 50), 2) }
}

const turns = Number(process.argv[2] ?? 8)
const work = workPerUpdate(2_000, 16_000)
const visible = await firstVisible(turns)
process.stdout.write(`${JSON.stringify({ ...visible, workPerUpdate: work })}\n`)
