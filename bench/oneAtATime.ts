/**
 * One message at a time through a bridge build, then the same fake OpenCode called directly:
 * `node bench/oneAtATime.ts <build's dist/index.js> [messages]` prints one JSON line. The emulator and the
 * fake OpenCode are always this checkout's, so two builds meet the same counterparts (see roundOne.ts).
 */
import { Layer } from "effect"
import { startDingTalkEmulator, startFakeOpenCode } from "../dist/testing/index.js"
import { directPromptTimes } from "./directCalls.ts"
import { Quiet, startInProcess } from "./inProcessBridge.ts"

const [entry, countArg] = process.argv.slice(2)
if (entry === undefined) throw new Error("usage: node bench/oneAtATime.ts <dist/index.js> [messages]")
const count = Number(countArg ?? 60)
const WARM_UP = 20
const LATENCY_MS = 100
// Typed as this build; round 1 exports the same three with the same shapes.
const { BridgeConfig, BridgeLayer, Bridge } = (await import(entry)) as typeof import("../dist/index.js")

const percentile = (values: ReadonlyArray<number>, p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!
const round = (n: number) => Math.round(n * 1000) / 1000

const emulator = await startDingTalkEmulator()
const opencode = await startFakeOpenCode({ latencyMs: LATENCY_MS })
const layer = BridgeLayer.pipe(
  Layer.provideMerge(BridgeConfig.layerFrom({
    DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
    OPENCODE_SERVER_URL: opencode.url, DINGTALK_RATE_LIMIT: "60000", BRIDGE_BACKLOG: "100000", DINGTALK_ACCESS: "open",
  })),
  Layer.provideMerge(Quiet)
)
const bridge = await startInProcess(layer, Bridge.use((b) => b.run))
await emulator.waitForConnections(1, 10_000)

const overhead: Array<number> = []
const via: Array<number> = []
for (let i = 0; i < WARM_UP + count; i++) {
  const pushed = emulator.pushMessage({ text: `m-${i}`, conversationId: "cid-one" })
  const replies = await emulator.waitForReplies(i + 1, { conversationId: "cid-one", timeoutMs: 10_000 })
  const prompt = opencode.prompts.at(-1)!
  if (i < WARM_UP) continue
  via.push(replies[i]!.at - pushed.pushedAt)
  overhead.push(prompt.startedAt - pushed.pushedAt + (replies[i]!.at - prompt.endedAt!))
}
const direct = await directPromptTimes(opencode.url, count)
await bridge.stop()
await Promise.all([emulator.close(), opencode.close()])
process.stdout.write(`${JSON.stringify({ messages: count, overheadP50: round(percentile(overhead, 50)), ratio: round(percentile(via, 50) / percentile(direct, 50)) })}\n`)
