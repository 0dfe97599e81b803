/**
 * Stage 4: when turns run. At most `concurrency` turns at once; one conversation's messages strictly
 * in order; different conversations in parallel with no head-of-line blocking (each conversation
 * waits for a free slot with at most one message); a bounded backlog answers "busy" when full.
 */
import { Effect, Scope, Semaphore } from "effect"

/** Where a conversation's work stands. */
export interface ConversationQueue {
  /** Messages waiting (not yet running). */
  readonly waiting: number
  readonly running: boolean
}

/** The turn scheduler. */
export interface TurnScheduler {
  /** Queues a job behind the conversation's earlier ones; `busy` when the backlog is full. */
  readonly submit: (conversationId: string, job: Effect.Effect<void>) => Effect.Effect<"queued" | "busy">
  readonly queueOf: (conversationId: string) => ConversationQueue
  /** Messages waiting in all conversations. */
  readonly depth: () => number
}

/** Creates a scheduler whose workers live in the current scope. */
export const makeTurnScheduler = (options: {
  readonly concurrency: number
  readonly backlog: number
  /** Called whenever depth or in-flight change. */
  readonly onChange: (depth: number, inFlight: number) => Effect.Effect<void>
}): Effect.Effect<TurnScheduler, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const slots = yield* Semaphore.make(options.concurrency)
    const queues = new Map<string, Array<Effect.Effect<void>>>()
    const running = new Set<string>()
    let waiting = 0
    let inFlight = 0
    const changed = Effect.suspend(() => options.onChange(waiting, inFlight))

    // One worker per busy conversation: it takes that conversation's jobs one by one.
    const worker = (conversationId: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        while (true) {
          const queue = queues.get(conversationId)
          const job = queue?.shift()
          if (job === undefined) {
            queues.delete(conversationId)
            return
          }
          yield* Semaphore.withPermit(slots, Effect.gen(function*() {
            waiting--
            inFlight++
            running.add(conversationId)
            yield* changed
            yield* Effect.exit(job)
          }).pipe(Effect.ensuring(Effect.suspend(() => {
            inFlight--
            running.delete(conversationId)
            return changed
          }))))
        }
      })

    const submit = (conversationId: string, job: Effect.Effect<void>) =>
      Effect.suspend(() => {
        if (waiting >= options.backlog) return Effect.succeed("busy" as const)
        waiting++
        const queue = queues.get(conversationId)
        if (queue !== undefined) {
          queue.push(job)
          return changed.pipe(Effect.as("queued" as const))
        }
        queues.set(conversationId, [job])
        return changed.pipe(Effect.andThen(Effect.forkIn(worker(conversationId), scope)), Effect.as("queued" as const))
      })

    return {
      submit,
      queueOf: (conversationId) => ({ waiting: queues.get(conversationId)?.length ?? 0, running: running.has(conversationId) }),
      depth: () => waiting,
    }
  })
