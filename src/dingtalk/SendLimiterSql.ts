/**
 * The reply budget shared by every instance of a robot (cluster mode): the sliding-window slots of
 * `SendLimiter`, kept in SQL and taken under a per-key advisory lock, timed by the database's clock so
 * hosts with skewed clocks still count one window. A slot left in flight by a runner that died is
 * freed after `STUCK_MS` plus a window.
 */
import { Duration, Effect, Layer, Semaphore } from "effect"
import { SqlClient } from "effect/sql"
import { SendLimiter, type SendLimits } from "./SendLimiter.js"

/** Longer than any send (HTTP timeout and retries): an in-flight slot older than this belonged to a dead runner. */
const STUCK_MS = 120_000
/** How often a full budget whose slots are all in flight is looked at again. */
const IN_FLIGHT_POLL_MS = 50

/** `SendLimiter` over the `bridge_send_slots` table (PostgreSQL: advisory locks). */
export const layerSendLimiterSql = ({ limit, windowMs }: SendLimits): Layer.Layer<SendLimiter, never, SqlClient.SqlClient> =>
  Layer.effect(
    SendLimiter,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`create table if not exists bridge_send_slots (
        id bigserial primary key,
        key text not null,
        taken_at double precision not null,
        free_at double precision
      )`.pipe(Effect.orDie)
      yield* sql`create index if not exists bridge_send_slots_key on bridge_send_slots (key)`.pipe(Effect.orDie)

      const now = sql<{ readonly now: number }>`select extract(epoch from clock_timestamp()) * 1000 as now`.pipe(Effect.map((rows) => Number(rows[0]!.now)))

      /** One attempt: a slot ID, or how long to wait before the next attempt. */
      const attempt = (key: string) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`select pg_advisory_xact_lock(hashtext(${key}))`
          const at = yield* now
          yield* sql`delete from bridge_send_slots where key = ${key} and (free_at <= ${at} or (free_at is null and taken_at < ${at - STUCK_MS - windowMs}))`
          const [usage] = yield* sql<{ readonly used: number; readonly next_free: number | null }>`
            select count(*)::int as used, min(free_at) as next_free from bridge_send_slots where key = ${key}`
          if ((usage?.used ?? 0) < limit) {
            const [slot] = yield* sql<{ readonly id: string }>`insert into bridge_send_slots (key, taken_at) values (${key}, ${at}) returning id::text as id`
            return { _tag: "Taken", id: slot!.id } as const
          }
          const nextFree = usage?.next_free === null || usage?.next_free === undefined ? undefined : Number(usage.next_free)
          return { _tag: "Wait", ms: nextFree === undefined ? IN_FLIGHT_POLL_MS : Math.max(1, nextFree - at) } as const
        }))

      const take = (key: string): Effect.Effect<string> =>
        attempt(key).pipe(
          Effect.flatMap((result) => result._tag === "Taken" ? Effect.succeed(result.id) : Effect.sleep(Duration.millis(result.ms)).pipe(Effect.andThen(take(key)))),
          // The database being away must not lose a reply: wait and try again.
          Effect.catch((error) => Effect.logWarning(`Reply budget unavailable (${error.message}); retrying`).pipe(Effect.andThen(Effect.sleep("1 second")), Effect.andThen(take(key))))
        )

      const finish = (id: string) =>
        Effect.gen(function*() {
          const at = yield* now
          yield* sql`update bridge_send_slots set free_at = ${at + windowMs} where id = ${id}::bigint`
        }).pipe(Effect.catch((error) => Effect.logWarning(`Could not release a reply slot: ${error.message}`)))

      // Sends of one key from this process queue in order before they compete with the other instances.
      const local = new Map<string, Semaphore.Semaphore>()
      const localTurn = (key: string) => {
        let turn = local.get(key)
        if (turn === undefined) local.set(key, turn = Semaphore.makeUnsafe(1))
        return turn
      }

      return SendLimiter.of({
        withPermit: (key) => (effect) =>
          Effect.acquireUseRelease(take(key).pipe(Semaphore.withPermit(localTurn(key))), () => effect, finish),
      })
    })
  )
