/**
 * Pushes messages into the DingTalk emulator at a steady rate, as the inbound benches load the bridge.
 */
import type { DingTalkEmulator } from "../dist/testing/index.js"

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Pushes `count` messages (`m-0`, `m-1`, …) at `rate` per second over 100 conversations; when each was pushed. */
export const pushAtRate = async (emulator: DingTalkEmulator, rate: number, count: number) => {
  const pushes: Array<{ frameId: string; msgId: string; text: string; pushedAt: number }> = []
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate
    // Sleeps to about 1 ms before each push is due, so the pushes keep to the schedule.
    while (performance.now() < due) await sleep(Math.max(0, due - performance.now() - 1))
    const text = `m-${i}`
    const pushed = emulator.pushMessage({ text, conversationId: `cid-${i % 100}` })
    pushes.push({ frameId: pushed.frameId, msgId: pushed.msgId, text, pushedAt: pushed.pushedAt })
  }
  return pushes
}
