import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { SendLimiter } from "../../src/dingtalk/SendLimiter.js"

const LIMIT = 20
const WINDOW = 60_000

/** The most of `times` that fall in any window [t, t + WINDOW). */
const mostInAnyWindow = (times: ReadonlyArray<number>) => {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= WINDOW) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}

/** Runs one send per entry of `submitAt` (ms), each taking `takesMs`; returns when each started and ended. */
const sendAt = (submitAt: ReadonlyArray<number>, takesMs: number, key = (_: number) => "robot") =>
  Effect.gen(function*() {
    const limiter = yield* SendLimiter
    const sends: Array<{ index: number; start: number; end: number }> = []
    const fibers = []
    for (const [index, at] of submitAt.entries()) {
      fibers.push(yield* Effect.gen(function*() {
        yield* Effect.sleep(Duration.millis(at))
        yield* Effect.gen(function*() {
          const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          yield* Effect.sleep(Duration.millis(takesMs))
          sends.push({ index, start, end: start + takesMs })
        }).pipe(limiter.withPermit(key(index)))
      }).pipe(Effect.forkChild))
    }
    // Time moves in small steps so sends land at their own moments, not all at the end of one jump.
    for (let elapsed = 0; elapsed < 10 * WINDOW && sends.length < submitAt.length; elapsed += 250) yield* TestClock.adjust("250 millis")
    yield* Fiber.joinAll(fibers)
    return sends
  }).pipe(Effect.provide(SendLimiter.layerMemory({ limit: LIMIT, windowMs: WINDOW })))

describe("SendLimiter", () => {
  it.effect("60 sends across several window edges: never more than the limit in any window, none dropped", () =>
    Effect.gen(function*() {
      // Bursts just before and just after each minute edge: a fixed window lets 2 × limit through there.
      const submitAt = [
        ...Array.from({ length: 15 }, (_, i) => 50_000 + i * 100),
        ...Array.from({ length: 15 }, (_, i) => 59_500 + i * 20),
        ...Array.from({ length: 15 }, (_, i) => 60_100 + i * 20),
        ...Array.from({ length: 15 }, (_, i) => 119_900 + i * 50),
      ]
      const sends = yield* sendAt(submitAt, 30)
      assert.strictEqual(sends.length, 60)
      assert.isAtMost(mostInAnyWindow(sends.map((s) => s.start)), LIMIT)
      assert.isAtMost(mostInAnyWindow(sends.map((s) => s.end)), LIMIT)
      // Whatever the network delay, a reused slot starts a full window after the previous send ended.
      const starts = sends.map((s) => s.start).sort((a, b) => a - b)
      const ends = sends.map((s) => s.end).sort((a, b) => a - b)
      for (let i = LIMIT; i < starts.length; i++) assert.isAtLeast(starts[i]!, ends[i - LIMIT]! + WINDOW)
      // Below the limit nothing waits: the first 20 went at once.
      assert.deepStrictEqual(sends.slice(0, LIMIT).map((s) => s.start), submitAt.slice(0, LIMIT))
    }))

  it.effect("waiting sends go in the order they came", () =>
    Effect.gen(function*() {
      const sends = yield* sendAt(Array.from({ length: 45 }, (_, i) => i), 10)
      assert.deepStrictEqual(sends.map((s) => s.index), Array.from({ length: 45 }, (_, i) => i))
    }))

  it.effect("keys are limited separately", () =>
    Effect.gen(function*() {
      const sends = yield* sendAt(Array.from({ length: 40 }, () => 0), 10, (i) => (i % 2 === 0 ? "a" : "b"))
      assert.isTrue(sends.every((s) => s.start === 0))
    }))
})
