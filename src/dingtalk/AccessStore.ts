/**
 * Where a robot's pairings live: the senders the operator approved and the one-time codes waiting for
 * approval. In memory, or in a file under the state dir (0600) that the owning process and the
 * `dingtalk-mcp-server pair` command both read and update, one at a time, under a lock file.
 */
import { Clock, Effect, Schedule, Schema } from "effect"
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs"
import path from "node:path"

/** A code handed to an unknown sender, waiting for the operator. */
export const PendingPairing = Schema.Struct({
  code: Schema.String,
  senderKey: Schema.String,
  senderId: Schema.String,
  senderNick: Schema.String,
  conversationId: Schema.String,
  conversationType: Schema.Literals(["single", "group"]),
  createdAt: Schema.Number,
  expiresAt: Schema.Number,
})
/** A code handed to an unknown sender. */
export type PendingPairing = typeof PendingPairing.Type

/** A sender the operator approved. */
export const ApprovedSender = Schema.Struct({
  senderKey: Schema.String,
  senderId: Schema.String,
  senderNick: Schema.String,
  approvedAt: Schema.Number,
  /** How: `cli`, `mcp`, or `chat:<admin>`. */
  approvedBy: Schema.String,
})
/** A sender the operator approved. */
export type ApprovedSender = typeof ApprovedSender.Type

/** Everything the store holds. */
export const AccessState = Schema.Struct({ approved: Schema.Array(ApprovedSender), pending: Schema.Array(PendingPairing) })
/** Everything the store holds. */
export type AccessState = typeof AccessState.Type

/** No approvals, no pending codes. */
export const emptyAccessState: AccessState = { approved: [], pending: [] }

/** The pairing file could not be written (or its lock taken). */
export class AccessStoreFailed extends Schema.TaggedError<AccessStoreFailed>()("AccessStoreFailed", {
  file: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return `Could not update the pairing file ${this.file}: ${this.detail}. Check that BRIDGE_STATE_DIR is writable by this user.`
  }
}

/** Reads and updates one robot's pairing state. */
export interface AccessStore {
  /** The current state; a file store re-reads the file only when another process changed it. */
  readonly read: Effect.Effect<AccessState>
  /** Applies `change` to the freshest state and keeps the result; returns what `change` returned. */
  readonly update: <A>(change: (state: AccessState) => readonly [A, AccessState]) => Effect.Effect<A, AccessStoreFailed>
}

/** A store that lives as long as the process (tests, embedders, the sandbox). */
export const memoryAccessStore = (): AccessStore => {
  let state = emptyAccessState
  return {
    read: Effect.sync(() => state),
    update: (change) =>
      Effect.sync(() => {
        const [result, next] = change(state)
        state = next
        return result
      }),
  }
}

/** A pairing file larger than this is not a pairing file. */
const MAX_FILE_BYTES = 4 * 1024 * 1024
/** A lock older than this was left by a process that died while holding it (it is held for milliseconds). */
const STALE_LOCK_MS = 3_000

/** Reads a stored pairing state (JSON). */
export const decodeAccessState = Schema.decodeUnknownEffect(Schema.fromJsonString(AccessState))

/** A store kept in `file`, shared by every process of the robot. */
export const fileAccessStore = (file: string): AccessStore => {
  const lockFile = `${file}.lock`
  let cached: { readonly stamp: string; readonly state: AccessState } | undefined

  // inode + size + mtime: a rename by another process changes at least the inode.
  const stampOf = () => {
    try {
      const stat = statSync(file)
      return `${stat.ino}:${stat.size}:${stat.mtimeMs}`
    } catch {
      return "missing"
    }
  }

  const load = Effect.gen(function*() {
    const stamp = stampOf()
    if (cached !== undefined && cached.stamp === stamp) return cached.state
    if (stamp === "missing") {
      cached = { stamp, state: emptyAccessState }
      return emptyAccessState
    }
    const state = yield* Effect.try(() => {
      if (statSync(file).size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`)
      return readFileSync(file, "utf8")
    }).pipe(
      Effect.flatMap(decodeAccessState),
      Effect.catch((error) => {
        // A broken file means no approvals (closed, the safe side); it is kept for the operator to look at.
        const aside = `${file}.corrupt`
        return Effect.logWarning(`The pairing file ${file} is unreadable (${error.message.slice(0, 200)}); moved it to ${aside}. Pending codes and approvals in it are lost.`).pipe(
          Effect.andThen(Effect.sync(() => {
            try {
              renameSync(file, aside)
            } catch {
              // gone already
            }
          })),
          Effect.as(emptyAccessState)
        )
      })
    )
    cached = { stamp: stampOf(), state }
    return state
  })

  const fail = (detail: unknown) => new AccessStoreFailed({ file, detail: detail instanceof Error ? detail.message : String(detail) })

  const takeLock = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.try({
      try: () => {
        mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
        try {
          closeSync(openSync(lockFile, "wx", 0o600))
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "EEXIST" && now - statSync(lockFile).mtimeMs > STALE_LOCK_MS) unlinkSync(lockFile)
          throw error
        }
      },
      catch: fail,
    })
  }).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))

  const releaseLock = Effect.sync(() => {
    try {
      unlinkSync(lockFile)
    } catch {
      // already gone
    }
  })

  const save = (state: AccessState) =>
    Effect.try({
      try: () => {
        const temporary = `${file}.${process.pid}.tmp`
        writeFileSync(temporary, JSON.stringify(state), { mode: 0o600 })
        // writeFileSync keeps the mode of an existing file: make sure it is ours alone.
        chmodSync(temporary, 0o600)
        renameSync(temporary, file)
      },
      catch: fail,
    })

  return {
    read: load,
    update: (change) =>
      Effect.acquireUseRelease(takeLock, () =>
        Effect.gen(function*() {
          const [result, next] = change(yield* load)
          yield* save(next)
          cached = { stamp: stampOf(), state: next }
          return result
        }), () => releaseLock),
  }
}
