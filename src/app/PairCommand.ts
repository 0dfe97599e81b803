/**
 * `dingtalk-mcp-server pair CODE`: approves a pairing code in the state directory (in cluster mode, in the
 * database). Works whether or not a bridge is running: the owning process re-reads the pairing file when
 * it changes.
 */
import { Effect, Option } from "effect"
import { readdirSync } from "node:fs"
import path from "node:path"
import { PairCommandConfig } from "../core/BridgeConfig.js"
import { configErrorReport, databaseUnusable } from "../core/ConfigErrorReport.js"
import { accessFileFor, approveIn, PairingCodeUnknown } from "../dingtalk/AccessPolicy.js"
import { type AccessStoreFailed, type ApprovedSender, fileAccessStore } from "../dingtalk/AccessStore.js"

/** Every robot's pairing file in the state dir (when no client ID says which). */
const allAccessFiles = (stateDir: string): ReadonlyArray<string> => {
  try {
    return readdirSync(stateDir).filter((name) => name.endsWith(".access.json")).map((name) => path.join(stateDir, name))
  } catch {
    return []
  }
}

/** Runs `pair CODE`: one line on stdout and exit 0, or one line on stderr and exit 1 (2 for usage/config). */
export const pairCommand = (code: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (code.trim() === "") return yield* finish("Usage: dingtalk-mcp-server pair CODE   (the code the robot sent the person asking for access)", 2)
    const config = yield* PairCommandConfig
    let approved: ApprovedSender | undefined
    if (Option.isSome(config.databaseUrl)) {
      if (Option.isNone(config.clientId)) return yield* finish("Cluster mode (BRIDGE_DATABASE_URL): set DINGTALK_CLIENT_ID too, to say which robot's pairings to update.", 2)
      const { approveInDatabase } = yield* Effect.promise(() => import("./ClusterPair.js"))
      approved = yield* approveInDatabase(config.databaseUrl.value, config.clientId.value, code).pipe(Effect.catchTag("PairingCodeUnknown", () => Effect.succeed(undefined)))
    } else {
      const files = Option.match(config.clientId, {
        onSome: (clientId) => [accessFileFor(config.stateDir, clientId)],
        onNone: () => allAccessFiles(config.stateDir),
      })
      for (const file of files) {
        approved = yield* approveIn(fileAccessStore(file), code, "cli").pipe(Effect.catchTag("PairingCodeUnknown", () => Effect.succeed(undefined)))
        if (approved !== undefined) break
      }
    }
    if (approved === undefined) return yield* finish(new PairingCodeUnknown({ code: code.trim() }).message, 1)
    return yield* finish(`Approved ${approved.senderNick || approved.senderKey} (${approved.senderKey}); their next message will be answered.`, 0)
  }).pipe(
    Effect.catchTags({
      ConfigError: (error) => finish(configErrorReport(error), 2),
      AccessStoreFailed: (error: AccessStoreFailed) => finish(error.message, 1),
      SqlError: (error) => finish(databaseUnusable(error.message), 1),
    })
  )

const finish = (line: string, code: number) =>
  Effect.sync(() => {
    // A CLI command, not an MCP session: the answer goes to stdout, failures to stderr.
    ;(code === 0 ? process.stdout : process.stderr).write(`${line}\n`)
    process.exitCode = code
  })
