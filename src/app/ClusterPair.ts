/**
 * `dingtalk-mcp-server pair CODE` in cluster mode: the pairings live in the database, so the code is
 * approved there (every runner lets the sender in within a second). Loaded only when it is needed.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, type Redacted } from "effect"
import { approveIn } from "../dingtalk/AccessPolicy.js"
import { sqlAccessStore } from "../dingtalk/AccessStoreSql.js"

/** Approves `code` for `robot` in the database at `url`. */
export const approveInDatabase = (url: Redacted.Redacted<string>, robot: string, code: string) =>
  sqlAccessStore(robot).pipe(
    Effect.flatMap((store) => approveIn(store, code, "cli")),
    Effect.provide(PgClient.layer({ url, maxConnections: 1 }))
  )
