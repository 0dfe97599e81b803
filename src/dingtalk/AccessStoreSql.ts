/**
 * Pairings in SQL (PostgreSQL in cluster mode): one row per robot, so a sender approved through any
 * runner (or `dingtalk-mcp-server pair` on any host) is let in by every runner. Reads are cached for a
 * second (the access check runs for every message); updates lock the row, so two runners never lose
 * each other's changes.
 */
import { Clock, Effect } from "effect"
import { SqlClient } from "effect/sql"
import { type AccessState, type AccessStore, AccessStoreFailed, decodeAccessState, emptyAccessState } from "./AccessStore.js"

/** How long a read is reused: an approval reaches every runner within this. */
const READ_TTL_MS = 1_000

/** The pairing state of `robot` in the `bridge_access` table (created when missing). */
export const sqlAccessStore = (robot: string): Effect.Effect<AccessStore, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`create table if not exists bridge_access (robot text primary key, state text not null)`.pipe(Effect.orDie)
    const where = `bridge_access (robot ${robot})`
    const fail = (error: { readonly message: string }) => new AccessStoreFailed({ file: where, detail: error.message })
    // An unreadable row means no approvals (closed, the safe side).
    const parse = (rows: ReadonlyArray<{ readonly state: string }>) =>
      rows[0] === undefined ? Effect.succeed(emptyAccessState) : decodeAccessState(rows[0].state).pipe(Effect.orElseSucceed(() => emptyAccessState))

    let cached: { readonly at: number; readonly state: AccessState } | undefined
    const read = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (cached !== undefined && now - cached.at < READ_TTL_MS) return cached.state
      const state = yield* sql<{ state: string }>`select state from bridge_access where robot = ${robot}`.pipe(
        Effect.flatMap(parse),
        // The database is away for a moment: the last state read (or none: closed) until it is back.
        Effect.catch((error) => Effect.logWarning(`Could not read the pairings from the database: ${error.message}`).pipe(Effect.as(cached?.state ?? emptyAccessState)))
      )
      cached = { at: now, state }
      return state
    })

    const update: AccessStore["update"] = (change) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`insert into bridge_access (robot, state) values (${robot}, ${JSON.stringify(emptyAccessState)}) on conflict (robot) do nothing`
        const current = yield* sql<{ state: string }>`select state from bridge_access where robot = ${robot} for update`.pipe(Effect.flatMap(parse))
        const [result, next] = change(current)
        yield* sql`update bridge_access set state = ${JSON.stringify(next)} where robot = ${robot}`
        return [result, next] as const
      })).pipe(
        Effect.mapError(fail),
        Effect.flatMap(([result, next]) => Clock.currentTimeMillis.pipe(Effect.map((at) => {
          cached = { at, state: next }
          return result
        })))
      )

    return { read, update }
  })
