import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Ref } from "effect"
import { TestClock } from "effect/testing"
import { ConnectionLost, reconnectSchedule, superviseConnection, type ConnectionOutcome } from "../../src/dingtalk/Reconnect.js"

class Refused {
  readonly _tag = "Refused"
  readonly message = "refused"
}

/** Records when each connection attempt started, and answers from a script of outcomes. */
const scripted = (script: ReadonlyArray<"fail" | "healthy" | "short">) =>
  Effect.gen(function*() {
    const starts = yield* Ref.make<Array<number>>([])
    let index = 0
    const serve = Effect.gen(function*() {
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      yield* Ref.update(starts, (all) => [...all, now])
      const step = script[Math.min(index++, script.length - 1)]
      if (step === "fail") return yield* Effect.fail(new Refused())
      yield* Effect.sleep(step === "healthy" ? "2 minutes" : "1 second")
      return { healthy: step === "healthy", reason: "closed" } satisfies ConnectionOutcome
    })
    return { starts, serve }
  })

const gapsInSeconds = (starts: ReadonlyArray<number>) => starts.slice(1).map((t, i) => (t - starts[i]!) / 1000)

describe("reconnect policy", () => {
  it.effect("waits 5 s, 10 s, 20 s … and gives up after 10 retries", () =>
    Effect.gen(function*() {
      const { starts, serve } = yield* scripted(["fail"])
      const fiber = yield* superviseConnection({
        serve,
        schedule: reconnectSchedule<Refused | ConnectionLost>({ baseMs: 5_000, maxAttempts: 10, jitter: false }),
        retryable: () => true,
        onRetry: () => Effect.void,
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("5 hours")
      const exit = yield* Fiber.await(fiber)
      assert.deepStrictEqual(gapsInSeconds(yield* Ref.get(starts)), [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560])
      assert.strictEqual(exit._tag, "Failure")
    }))

  it.effect("starts counting again after a connection stayed healthy", () =>
    Effect.gen(function*() {
      // fail, fail, healthy (2 min), fail, fail, fail …
      const { starts, serve } = yield* scripted(["fail", "fail", "healthy", "fail"])
      const fiber = yield* superviseConnection({
        serve,
        schedule: reconnectSchedule<Refused | ConnectionLost>({ baseMs: 5_000, maxAttempts: 3, jitter: false }),
        retryable: () => true,
        onRetry: () => Effect.void,
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("2 hours")
      yield* Fiber.await(fiber)
      // 5, 10 → healthy for 120 s → immediate reconnect, then again 5, 10, 20 before giving up.
      assert.deepStrictEqual(gapsInSeconds(yield* Ref.get(starts)), [5, 10, 120, 5, 10, 20])
    }))

  it.effect("a connection that drops before it is healthy counts as a failed attempt", () =>
    Effect.gen(function*() {
      const { starts, serve } = yield* scripted(["short"])
      const errors: Array<string> = []
      const fiber = yield* superviseConnection({
        serve,
        schedule: reconnectSchedule<Refused | ConnectionLost>({ baseMs: 200, maxAttempts: 2, jitter: false }),
        retryable: () => true,
        onRetry: (_attempt, _delay, error) => Effect.sync(() => { errors.push(error._tag) }),
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 minute")
      const exit = yield* Fiber.await(fiber)
      // Each connection lives 1 s, then waits 0.2 s, 0.4 s.
      assert.deepStrictEqual(gapsInSeconds(yield* Ref.get(starts)), [1.2, 1.4])
      assert.deepStrictEqual(errors, ["ConnectionLost", "ConnectionLost"])
      assert.isTrue(exit._tag === "Failure")
    }))

  it.effect("errors that are not retryable end the loop at once", () =>
    Effect.gen(function*() {
      const { starts, serve } = yield* scripted(["fail"])
      const fiber = yield* superviseConnection({
        serve,
        schedule: reconnectSchedule<Refused | ConnectionLost>({ baseMs: 5_000, maxAttempts: 10, jitter: false }),
        retryable: (error) => error._tag === "ConnectionLost",
        onRetry: () => Effect.void,
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 hour")
      yield* Fiber.await(fiber)
      assert.strictEqual((yield* Ref.get(starts)).length, 1)
    }))

  it.effect("jitter keeps each delay within ±20 % of the exponential one", () =>
    Effect.gen(function*() {
      const { starts, serve } = yield* scripted(["fail"])
      const fiber = yield* superviseConnection({
        serve,
        schedule: reconnectSchedule<Refused | ConnectionLost>({ baseMs: 5_000, maxAttempts: 5, jitter: true }),
        retryable: () => true,
        onRetry: () => Effect.void,
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 hour")
      yield* Fiber.await(fiber)
      const gaps = gapsInSeconds(yield* Ref.get(starts))
      assert.strictEqual(gaps.length, 5)
      gaps.forEach((gap, i) => {
        const nominal = Duration.toSeconds(Duration.seconds(5 * 2 ** i))
        assert.isTrue(gap >= nominal * 0.8 - 0.001 && gap <= nominal * 1.2 + 0.001, `gap ${i} = ${gap}`)
      })
    }))
})
