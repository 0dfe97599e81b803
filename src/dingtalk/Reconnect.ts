/**
 * The reconnect policy as an Effect `Schedule`, and the loop that applies it: exponential delays
 * from a base (5 s, 10 s, 20 s …), at most N consecutive failed attempts, and a fresh count once a
 * connection has stayed healthy.
 */
import { Duration, Effect, Schedule, Schema } from "effect"

/** Exponential delays from `baseMs`, doubling, at most `maxAttempts` retries; optional ±20 % jitter. */
export const reconnectSchedule = <E>(options: { readonly baseMs: number; readonly maxAttempts: number; readonly jitter: boolean }) => {
  const exponential = Schedule.exponential(Duration.millis(options.baseMs), 2).pipe(Schedule.upTo({ times: options.maxAttempts }))
  return (options.jitter ? Schedule.jittered(exponential) : exponential) as Schedule.Schedule<Duration.Duration, E>
}

/** How one connection ended. */
export interface ConnectionOutcome {
  /** True when it stayed up long enough (or was handed over on a server notice): the count starts again. */
  readonly healthy: boolean
  readonly reason: string
}

/** A connection that ended before it was healthy: counts as a failed attempt. */
export class ConnectionLost extends Schema.TaggedError<ConnectionLost>()("ConnectionLost", {
  reason: Schema.String,
}) {
  override get message() {
    return `connection lost before it was healthy: ${this.reason}`
  }
}

/** Runs `serve` again and again; failed or short-lived connections are retried on the schedule. */
export const superviseConnection = <E, R>(options: {
  /** Opens one connection and waits until it ends; fails when it could not connect. */
  readonly serve: Effect.Effect<ConnectionOutcome, E, R>
  readonly schedule: Schedule.Schedule<Duration.Duration, E | ConnectionLost>
  /** Errors not worth retrying (e.g. wrong credentials) end the loop at once. */
  readonly retryable: (error: E | ConnectionLost) => boolean
  /** Called before each wait, with the attempt number (1-based), the delay and the error. */
  readonly onRetry: (attempt: number, delay: Duration.Duration, error: E | ConnectionLost) => Effect.Effect<void>
}): Effect.Effect<never, E | ConnectionLost, R> => {
  const once = options.serve.pipe(
    Effect.flatMap((outcome) => (outcome.healthy ? Effect.void : Effect.fail(new ConnectionLost({ reason: outcome.reason }))))
  )
  const schedule = options.schedule.pipe(
    Schedule.tap((step) => options.onRetry(step.attempt, step.duration, step.input))
  )
  // Every healthy connection ends the retry, so the next failure starts counting from 1 again.
  return once.pipe(Effect.retry({ schedule, while: options.retryable }), Effect.forever)
}
