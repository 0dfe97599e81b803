/**
 * RSS after 1 000 000 messages through decode → dedup → route (the per-message work of the
 * pipeline before a turn). Goal: flat, under 120 MB. Run alone: `node --expose-gc bench/memory.ts [count]`.
 * Records RSS and, after a forced GC, the live heap: RSS alone also shows memory V8 has not given back.
 * With the heap settings `node dist/main.js` applies (src/app/HeapTuning.ts).
 */
import { Effect } from "effect"
import { tuneHeap } from "../dist/app/HeapTuning.js"
import { decodeFrame } from "../dist/pipeline/Decode.js"
import { makeDedup } from "../dist/pipeline/Dedup.js"
import { route } from "../dist/pipeline/Route.js"

tuneHeap()

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10

/** Runs `count` distinct messages (plus 10 % redeliveries) through the stages; RSS every tenth. */
const measureMemory = (count: number) =>
  Effect.gen(function*() {
    const isFirstSeen = yield* makeDedup({ capacity: 1_000, ttlMs: 5 * 60_000 })
    const rssSamplesMb: Array<number> = []
    const heapSamplesMb: Array<number> = []
    let turns = 0
    const started = performance.now()
    for (let i = 0; i < count; i++) {
      const data = JSON.stringify({
        msgId: `msg-${i}`, msgtype: "text", conversationId: `cid-${i % 500}`, conversationType: "1", senderId: "$:s", senderStaffId: "staff",
        senderNick: "Bench", sessionWebhook: "http://127.0.0.1:9/robot/sendBySession?session=x", sessionWebhookExpiredTime: 2e12,
        text: { content: `message number ${i}` },
      })
      for (const copy of i % 10 === 0 ? [0, 1] : [0]) {
        const decoded = yield* decodeFrame({ frameId: `f-${i}-${copy}`, connectionId: "c1", topic: "t", data, receivedAt: 0 }, "robot")
        if (decoded._tag !== "Success") continue
        if (!(yield* isFirstSeen(decoded.success))) continue
        if (route(decoded.success, 64 * 1024)._tag === "Turn") turns++
      }
      if ((i + 1) % (count / 10) === 0) {
        rssSamplesMb.push(mb(process.memoryUsage().rss))
        ;(globalThis as { gc?: () => void }).gc?.()
        heapSamplesMb.push(mb(process.memoryUsage().heapUsed))
      }
    }
    return { messages: count, turns, seconds: Math.round((performance.now() - started) / 100) / 10, rssSamplesMb, heapSamplesMb }
  })

const count = Number(process.argv[2] ?? 1_000_000)
Effect.runPromise(measureMemory(count)).then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
