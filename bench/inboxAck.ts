/**
 * `node bench/inboxAck.ts` (after `npm run build`): what the durable inbox costs the ack. DingTalk wants
 * an ack within seconds and re-pushes otherwise, so the journal write can go before the ack (nothing is
 * ever acked without being on disk) or right after it (the ack is not held up; a crash in between loses
 * the message). Four ways, through the real bridge and the emulator at a steady rate:
 * no journal, journal right after the ack (what the bridge does), a synchronous write before the ack,
 * and the same with fsync. Prints ack latency p50/p99 (push → ack, ms) and, for the after-ack journal,
 * push → prompt at OpenCode (the journal write is done before the prompt is sent: an upper bound of
 * the window in which an acked message is not yet on disk).
 */
import { Layer, Logger, References } from "effect"
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, watch, writeSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { BridgeLayer, PersistentBridgeLayer } from "../dist/app/BridgeLayer.js"
import { BridgeConfig } from "../dist/core/BridgeConfig.js"
import { StreamClient } from "../dist/dingtalk/StreamClient.js"
import { Bridge } from "../dist/pipeline/Bridge.js"
import { startDingTalkEmulator, startFakeOpenCode } from "../dist/testing/index.js"
import { startInProcess } from "./inProcessBridge.ts"
import { pushAtRate } from "./pacedPushes.ts"

const Quiet = Layer.mergeAll(Logger.layer([Logger.withConsoleError(Logger.formatLogFmt)]), Layer.succeed(References.MinimumLogLevel, "None"))
const percentile = (values: ReadonlyArray<number>, p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!
const round = (n: number) => Math.round(n * 100) / 100

type Way = "none" | "after" | "before" | "before+fsync"

const originalOnCallback = StreamClient.prototype.onCallback
/** The "before the ack" variants: the frame is written (and maybe fsynced) before the SDK acks it. */
const journalBeforeAck = (dir: string, fsync: boolean) => {
  let n = 0
  StreamClient.prototype.onCallback = function(this: StreamClient, frame: any) {
    const fd = openSync(path.join(dir, `frame-${++n}`), "w", 0o600)
    writeSync(fd, JSON.stringify(frame))
    if (fsync) fsyncSync(fd)
    closeSync(fd)
    return originalOnCallback.call(this, frame)
  }
}

export const ackCost = async (way: Way, rate: number, count: number) => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "inbox-bench-"))
  StreamClient.prototype.onCallback = originalOnCallback
  if (way === "before" || way === "before+fsync") journalBeforeAck(stateDir, way === "before+fsync")
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode()
  const layer = (way === "after" ? PersistentBridgeLayer : BridgeLayer).pipe(
    Layer.provideMerge(BridgeConfig.layerFrom({
      DINGTALK_CLIENT_ID: emulator.clientId, DINGTALK_CLIENT_SECRET: emulator.clientSecret, DINGTALK_API_URL: emulator.url,
      OPENCODE_SERVER_URL: opencode.url, DINGTALK_RATE_LIMIT: "60000", BRIDGE_BACKLOG: "100000", BRIDGE_STATE_DIR: stateDir,
      BRIDGE_SINGLE_OWNER: "false", DINGTALK_ACCESS: "open",
    })),
    Layer.provideMerge(Quiet)
  )
  const bridge = await startInProcess(layer, Bridge.use((b) => b.run))
  await emulator.waitForConnections(1, 10_000)
  // When each journal file appears (inotify), for the window between the ack and the message on disk.
  const created = new Map<string, number>()
  const inboxDir = path.join(stateDir, `${emulator.clientId.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64)}.inbox`)
  mkdirSync(inboxDir, { recursive: true })
  const watcher = watch(inboxDir, (_event, file) => {
    if (file !== null && !created.has(file)) created.set(decodeURIComponent(file), performance.now())
  })
  const pushes = await pushAtRate(emulator, rate, count)
  await emulator.waitForReplies(count, { timeoutMs: 60_000 })
  const acks = new Map(emulator.acks.map((a) => [a.frameId, a.at]))
  const prompts = new Map(opencode.prompts.map((p) => [p.text, p.startedAt]))
  const ack = pushes.map((p) => acks.get(p.frameId)! - p.pushedAt)
  const toPrompt = pushes.map((p) => prompts.get(p.text)! - p.pushedAt)
  watcher.close()
  const onDisk = way === "after" ? pushes.flatMap((p) => {
    const at = [...created].find(([file]) => file.endsWith(`:${p.msgId}`))?.[1]
    return at === undefined ? [] : [at - acks.get(p.frameId)!]
  }) : []
  await bridge.stop()
  await Promise.all([emulator.close(), opencode.close()])
  StreamClient.prototype.onCallback = originalOnCallback
  rmSync(stateDir, { recursive: true, force: true })
  return { way, rate, count, ackP50: round(percentile(ack, 50)), ackP99: round(percentile(ack, 99)), promptP50: round(percentile(toPrompt, 50)), promptP99: round(percentile(toPrompt, 99)),
    ...(onDisk.length > 0 ? { journaled: onDisk.length, ackToDiskP50: round(percentile(onDisk, 50)), ackToDiskP99: round(percentile(onDisk, 99)) } : {}) }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rate = Number(process.argv[2] ?? 200)
  const count = Number(process.argv[3] ?? 1000)
  await ackCost("none", rate, 200) // warm-up
  for (const way of ["none", "after", "before", "before+fsync"] as const) console.log(JSON.stringify(await ackCost(way, rate, count)))
}
