import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import { makeTurnScheduler } from "../../src/pipeline/TurnScheduler.js"

const seconds = (ms: number) => Math.round(ms / 100) / 10

describe("turn scheduler", () => {
  it.effect("3 conversations × 3 one-second turns finish in 3 s, each conversation in order", () =>
    Effect.gen(function*() {
      const scheduler = yield* makeTurnScheduler({ concurrency: 3, backlog: 100, onChange: () => Effect.void })
      const done: Array<{ conversation: string; n: number; at: number }> = []
      let maxRunning = 0
      let running = 0
      const turn = (conversation: string, n: number) =>
        Effect.gen(function*() {
          maxRunning = Math.max(maxRunning, ++running)
          yield* Effect.sleep("1 second")
          running--
          done.push({ conversation, n, at: yield* Effect.clockWith((c) => c.currentTimeMillis) })
        })
      for (const n of [1, 2, 3]) for (const c of ["a", "b", "c"]) yield* scheduler.submit(c, turn(c, n))
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(done.length, 9)
      assert.strictEqual(maxRunning, 3)
      assert.strictEqual(seconds(Math.max(...done.map((d) => d.at))), 3)
      for (const c of ["a", "b", "c"]) {
        assert.deepStrictEqual(done.filter((d) => d.conversation === c).map((d) => d.n), [1, 2, 3])
      }
    }).pipe(Effect.scoped))

  it.effect("a slow conversation does not hold up another while a slot is free", () =>
    Effect.gen(function*() {
      const scheduler = yield* makeTurnScheduler({ concurrency: 3, backlog: 100, onChange: () => Effect.void })
      const finished: Record<string, number> = {}
      const turn = (id: string, duration: Duration.Input) =>
        Effect.sleep(duration).pipe(Effect.andThen(Effect.clockWith((c) => c.currentTimeMillis)), Effect.map((at) => { finished[id] = at }))
      yield* scheduler.submit("slow", turn("slow-1", "1 minute"))
      yield* scheduler.submit("slow", turn("slow-2", "1 minute"))
      yield* scheduler.submit("fast", turn("fast-1", "1 second"))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(finished["fast-1"], 1_000)
      assert.isUndefined(finished["slow-1"])
      yield* TestClock.adjust("3 minutes")
      assert.strictEqual(finished["slow-2"], 120_000)
    }).pipe(Effect.scoped))

  it.effect("a full backlog answers busy instead of growing", () =>
    Effect.gen(function*() {
      const depths: Array<number> = []
      let inFlight = -1
      const scheduler = yield* makeTurnScheduler({
        concurrency: 1,
        backlog: 2,
        onChange: (depth, running) => Effect.sync(() => { depths.push(depth); inFlight = running }),
      })
      const answers = []
      for (let i = 0; i < 4; i++) {
        answers.push(yield* scheduler.submit(`c${i}`, Effect.sleep("1 minute")))
        yield* Effect.yieldNow
      }
      // One runs, two wait (the backlog), the fourth is refused.
      assert.deepStrictEqual(answers, ["queued", "queued", "queued", "busy"])
      assert.strictEqual(scheduler.depth(), 2)
      assert.strictEqual(inFlight, 1)
      assert.strictEqual(Math.max(...depths), 2)
      yield* TestClock.adjust("5 minutes")
      assert.strictEqual(scheduler.depth(), 0)
      assert.strictEqual(inFlight, 0)
    }).pipe(Effect.scoped))

  it.effect("a failing job does not stop the conversation's later jobs", () =>
    Effect.gen(function*() {
      const scheduler = yield* makeTurnScheduler({ concurrency: 2, backlog: 10, onChange: () => Effect.void })
      const ran: Array<number> = []
      yield* scheduler.submit("a", Effect.die("boom"))
      yield* scheduler.submit("a", Effect.sync(() => { ran.push(2) }))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(ran, [2])
    }).pipe(Effect.scoped))
})
