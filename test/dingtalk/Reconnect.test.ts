import { assert, describe, it } from "@effect/vitest"
import { Data, Duration, Effect, Fiber, Ref } from "effect"
import { TestClock } from "effect/testing"
import { type ConnectionLost, reconnectSchedule, superviseConnection, type ConnectionOutcome } from "../../src/dingtalk/Reconnect.js"

class Refused extends Data.TaggedError("Refused")<{}> {
  override readonly message = "refused"
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
      if (step === "fail") return yield* new Refused()
      yield* Effect.sleep(step === "healthy" ? "2 minutes" : "1 second")
      return { healthy: step === "healthy", reason: "closed" } satisfies ConnectionOutcome
    })
    return { starts, serve }
  })

const gapsInSeconds = (starts: ReadonlyArray<number>) => starts.slice(1).map((t, i) => (t - starts[i]!) / 1000)

/** Supervises a scripted connection for `duration` of TestClock time: the gaps between attempts (s) and how the loop ended. */
const supervise = (
  script: ReadonlyArray<"fail" | "healthy" | "short">,
  policy: { readonly baseMs: number; readonly maxAttempts: number; readonly jitter?: boolean },
  duration: Duration.Input,
  options: {
    readonly retryable?: (error: Refused | ConnectionLost) => boolean
    readonly onRetry?: (attempt: number, delay: Duration.Duration, error: Refused | ConnectionLost) => Effect.Effect<void>
  } = {}
) =>
  Effect.gen(function*() {
    const { starts, serve } = yield* scripted(script)
    const fiber = yield* superviseConnection({
      serve,
      schedule: reconnectSchedule<Refused | ConnectionLost>({ jitter: false, ...policy }),
      retryable: options.retryable ?? (() => true),
      onRetry: options.onRetry ?? (() => Effect.void),
    }).pipe(Effect.forkChild)
    yield* TestClock.adjust(duration)
    const exit = yield* Fiber.await(fiber)
    return { gaps: gapsInSeconds(yield* Ref.get(starts)), exit }
  })

describe("reconnect policy", () => {
  it.effect("waits 5 s, 10 s, 20 s … and gives up after 10 retries", () =>
    Effect.gen(function*() {
      const { gaps, exit } = yield* supervise(["fail"], { baseMs: 5_000, maxAttempts: 10 }, "5 hours")
      assert.deepStrictEqual(gaps, [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560])
      assert.strictEqual(exit._tag, "Failure")
    }))

  it.effect("starts counting again after a connection stayed healthy", () =>
    Effect.gen(function*() {
      // fail, fail, healthy (2 min), fail, fail, fail …
      const { gaps } = yield* supervise(["fail", "fail", "healthy", "fail"], { baseMs: 5_000, maxAttempts: 3 }, "2 hours")
      // 5, 10 → healthy for 120 s → immediate reconnect, then again 5, 10, 20 before giving up.
      assert.deepStrictEqual(gaps, [5, 10, 120, 5, 10, 20])
    }))

  it.effect("a connection that drops before it is healthy counts as a failed attempt", () =>
    Effect.gen(function*() {
      const errors: Array<string> = []
      const { gaps, exit } = yield* supervise(["short"], { baseMs: 200, maxAttempts: 2 }, "1 minute", {
        onRetry: (_attempt, _delay, error) => Effect.sync(() => { errors.push(error._tag) }),
      })
      // Each connection lives 1 s, then waits 0.2 s, 0.4 s.
      assert.deepStrictEqual(gaps, [1.2, 1.4])
      assert.deepStrictEqual(errors, ["ConnectionLost", "ConnectionLost"])
      assert.strictEqual(exit._tag, "Failure")
    }))

  it.effect("errors that are not retryable end the loop at once", () =>
    Effect.gen(function*() {
      const { gaps, exit } = yield* supervise(["fail"], { baseMs: 5_000, maxAttempts: 10 }, "1 hour", {
        retryable: (error) => error._tag === "ConnectionLost",
      })
      assert.deepStrictEqual(gaps, [])
      assert.strictEqual(exit._tag, "Failure")
    }))

  it.effect("jitter keeps each delay within ±20 % of the exponential one", () =>
    Effect.gen(function*() {
      const { gaps } = yield* supervise(["fail"], { baseMs: 5_000, maxAttempts: 5, jitter: true }, "1 hour")
      assert.strictEqual(gaps.length, 5)
      gaps.forEach((gap, i) => {
        const nominal = Duration.toSeconds(Duration.seconds(5 * 2 ** i))
        assert.isTrue(gap >= nominal * 0.8 - 0.001 && gap <= nominal * 1.2 + 0.001, `gap ${i} = ${gap}`)
      })
    }))
})
