/**
 * One robot, one owner: for a given client ID exactly one process on the machine holds the DingTalk
 * connection. Ownership is a Unix socket under the state directory (0700): whoever listens on it owns the
 * robot, and the socket is how the other instances (e.g. the MCP server OpenCode launches) forward their
 * tool calls to the owner. A socket left by a dead owner refuses connections and is replaced, under a short
 * lock so two survivors never both take over.
 *
 * Peers are untrusted input: every line is decoded with Schema (anything else is ignored), a line longer
 * than 1 MiB drops the peer, and on connecting the two sides exchange the fingerprint of their access
 * policy, so a follower configured differently knows it must not take over. Node has no SO_PEERCRED API
 * to read the peer's uid, so the 0700 state directory is the guard against other users.
 * (`effect/rpc` would need its own socket protocol layer here; a line protocol with Schema stays small.)
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { Clock, Deferred, Duration, Effect, Exit, FiberSet, Option, Schedule, Schema, Scope } from "effect"
import { mkdirSync, rmSync, statSync } from "node:fs"
import net from "node:net"
import { socketPathFor } from "../core/StateDir.js"
import type { ToolDispatch } from "../mcp/McpServer.js"

/** A line longer than this drops the peer: no forwarded call comes near it. */
export const MAX_LINE_BYTES = 1024 * 1024
/** The owner's answers can be larger (a long conversation list); the follower still bounds them. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024
/** At most this many instances forward to one owner at once. */
const MAX_PEERS = 64
/** How long a follower waits for the owner's hello. */
const HELLO_TIMEOUT = Duration.seconds(3)
/** A lock directory older than this was left by a crash. */
const STALE_LOCK_MS = 10_000

/** The access policy an instance runs with: its fingerprint, and a few words for logs. */
export interface PolicyTag {
  readonly fingerprint: string
  readonly summary: string
}

const Hello = Schema.Struct({ type: Schema.Literal("hello"), pid: Schema.Number, fingerprint: Schema.String, summary: Schema.String })
/** What one side says about itself when a follower connects. */
export type Hello = typeof Hello.Type
const Call = Schema.Struct({ type: Schema.Literal("call"), id: Schema.Number, tool: Schema.String, arguments: Schema.optional(Schema.Unknown) })
const ToolResult = Schema.Struct({
  content: Schema.Array(Schema.Unknown),
  isError: Schema.optional(Schema.Boolean),
  structuredContent: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
})
const Answer = Schema.Struct({ type: Schema.Literal("result"), id: Schema.Number, result: ToolResult })

const decodeToOwner = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Union([Hello, Call])))
const decodeToFollower = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Union([Hello, Answer])))

/** This process owns the robot. */
export interface Owner {
  readonly _tag: "Owner"
  /** Answers forwarded tool calls with `dispatch` from now on (calls that arrived earlier wait for it). */
  readonly serve: (dispatch: ToolDispatch) => Effect.Effect<void>
}

/** Another process owns the robot: calls are forwarded to it. */
export interface Follower {
  readonly _tag: "Follower"
  readonly owner: Hello
  readonly call: ToolDispatch
  /** Completes when the owner has gone (its socket closed). */
  readonly ownerGone: Effect.Effect<void>
}

/** The socket could not be used for a reason retrying will not fix. */
export class ControlSocketFailed extends Schema.TaggedError<ControlSocketFailed>()("ControlSocketFailed", {
  socketPath: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `The ownership socket ${this.socketPath} cannot be used (${this.reason}). Check BRIDGE_STATE_DIR, or set BRIDGE_SINGLE_OWNER=false.`
  }
}

/** Someone else is taking over right now, or (for a follower that may not own) nobody owns yet: try again. */
class Contended extends Schema.TaggedError<Contended>()("Contended", {}) {}

const codeOf = (error: unknown) => (error as NodeJS.ErrnoException).code

const text = (message: string): CallToolResult => ({ isError: true, content: [{ type: "text", text: message }] })

/** Calls `onLine` per newline-terminated line; a line over `maxBytes` calls `onOverflow` instead (once). */
const readLines = (socket: net.Socket, maxBytes: number, onLine: (line: string) => void, onOverflow: () => void) => {
  let pending: Array<Buffer> = []
  let size = 0
  socket.on("data", (chunk: Buffer) => {
    let start = 0
    for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, newline)
      if (size + piece.length > maxBytes) return onOverflow()
      const line = Buffer.concat([...pending, piece]).toString("utf8")
      pending = []
      size = 0
      start = newline + 1
      if (line.trim() !== "") onLine(line)
    }
    const rest = chunk.subarray(start)
    size += rest.length
    if (size > maxBytes) return onOverflow()
    if (rest.length > 0) pending.push(rest)
  })
}

const writeLine = (socket: net.Socket, message: unknown) => {
  if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`)
}

const listen = (socketPath: string) =>
  Effect.callback<net.Server, NodeJS.ErrnoException>((resume) => {
    const server = net.createServer()
    server.maxConnections = MAX_PEERS
    server.once("error", (error) => resume(Effect.fail(error)))
    server.listen(socketPath, () => {
      server.removeAllListeners("error")
      // A peer's misbehaviour ends its socket, never the server.
      server.on("error", () => undefined)
      resume(Effect.succeed(server))
    })
  })

const connect = (socketPath: string) =>
  Effect.callback<net.Socket, NodeJS.ErrnoException>((resume) => {
    const socket = net.connect(socketPath)
    socket.once("connect", () => {
      socket.removeAllListeners("error")
      socket.on("error", () => socket.destroy())
      resume(Effect.succeed(socket))
    })
    socket.once("error", (error) => resume(Effect.fail(error)))
  })

/** Owns `server` until the scope closes: answers hellos at once, and calls once `serve` has a dispatch. */
const makeOwner = Effect.fnUntraced(function*(server: net.Server, self: Hello) {
  const scope = yield* Scope.Scope
  const dispatch = yield* Deferred.make<ToolDispatch>()
  const run = yield* FiberSet.makeRuntime<never>()
  const sockets = new Set<net.Socket>()
  yield* Scope.addFinalizer(scope, Effect.callback<void>((resume) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resume(Effect.void))
  }))

  const answer = (socket: net.Socket, id: number, tool: string, args: unknown) =>
    Deferred.await(dispatch).pipe(
      Effect.flatMap((handle) => Effect.tryPromise(() => handle(tool, args))),
      Effect.catch((error) => Effect.succeed(text(`The owner failed: ${String(error.cause ?? error)}`))),
      Effect.flatMap((result) => Effect.sync(() => writeLine(socket, { type: "result", id, result })))
    )

  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => socket.destroy())
    readLines(socket, MAX_LINE_BYTES, (line) => {
      const message = decodeToOwner(line)
      if (Option.isNone(message)) {
        run(Effect.logDebug("Ignored a line on the ownership socket that is not a hello or a call"))
        return
      }
      if (message.value.type === "hello") {
        writeLine(socket, self)
        if (message.value.fingerprint !== self.fingerprint) {
          run(Effect.logWarning(
            `Instance pid ${message.value.pid} of this robot runs with another access policy (${message.value.summary}; here: ${self.summary}); it will not take over when this process exits`
          ))
        }
        return
      }
      run(answer(socket, message.value.id, message.value.tool, message.value.arguments))
    }, () => {
      socket.destroy()
      run(Effect.logWarning(`Dropped a peer of the ownership socket: it sent a line over ${MAX_LINE_BYTES} bytes`))
    })
  })

  return { _tag: "Owner", serve: (handle) => Deferred.succeed(dispatch, handle).pipe(Effect.asVoid) } satisfies Owner
})

/** Follows the owner behind `socket` until the scope closes; fails with `Contended` when it never says hello. */
const makeFollower = Effect.fnUntraced(function*(socket: net.Socket, self: Hello) {
  yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
  socket.on("error", () => socket.destroy())
  const hello = yield* Deferred.make<Hello>()
  const gone = yield* Deferred.make<void>()
  const pending = new Map<number, (result: CallToolResult) => void>()
  let nextId = 1
  socket.on("close", () => {
    Deferred.doneUnsafe(gone, Exit.void)
    for (const resolve of pending.values()) resolve(text("The process that owned the DingTalk connection exited; try again in a few seconds."))
    pending.clear()
  })
  readLines(socket, MAX_ANSWER_BYTES, (line) => {
    const message = decodeToFollower(line)
    if (Option.isNone(message)) return
    if (message.value.type === "hello") Deferred.doneUnsafe(hello, Exit.succeed(message.value))
    else {
      pending.get(message.value.id)?.(message.value.result as CallToolResult)
      pending.delete(message.value.id)
    }
  }, () => socket.destroy())
  writeLine(socket, self)
  const owner = yield* Deferred.await(hello).pipe(
    Effect.raceFirst(Deferred.await(gone).pipe(Effect.andThen(Effect.fail(new Contended())))),
    Effect.timeoutOrElse({ duration: HELLO_TIMEOUT, orElse: () => Effect.fail(new Contended()) }),
    Effect.tapError(() => Effect.sync(() => socket.destroy()))
  )
  const call: ToolDispatch = (tool, args) =>
    new Promise((resolve) => {
      if (socket.destroyed) return resolve(text("The owner of the DingTalk connection is gone; try again in a few seconds."))
      const id = nextId++
      pending.set(id, resolve)
      writeLine(socket, { type: "call", id, tool, arguments: args })
    })
  return { _tag: "Follower", owner, call, ownerGone: Deferred.await(gone) } satisfies Follower
})

/** Takes the lock directory (created atomically); one left by a crash expires. */
const takeLock = (lockPath: string): Effect.Effect<boolean> =>
  Effect.try(() => mkdirSync(lockPath)).pipe(
    Effect.as(true),
    Effect.catch(() =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const stale = yield* Effect.try(() => now - statSync(lockPath).mtimeMs > STALE_LOCK_MS).pipe(Effect.orElseSucceed(() => false))
        if (stale) yield* Effect.sync(() => rmSync(lockPath, { recursive: true, force: true }))
        return false
      })
    )
  )

/** Retries a contended acquisition: fast at first (a takeover race), then once a second. */
const contention = Schedule.min([Schedule.exponential(Duration.millis(50), 1.5), Schedule.spaced(Duration.seconds(1))]).pipe(Schedule.jittered)

/**
 * Becomes the owner, or a follower of the live owner, for the current scope. With `mayOwn: false` it only
 * follows, waiting for an owner to appear (an instance whose policy differs must not take over).
 */
export const acquire = (options: {
  readonly stateDir: string
  readonly clientId: string
  readonly policy: PolicyTag
  readonly mayOwn: boolean
}): Effect.Effect<Owner | Follower, ControlSocketFailed, Scope.Scope> => {
  const socketPath = socketPathFor(options.stateDir, options.clientId)
  const lockPath = `${socketPath}.lock`
  const self: Hello = { type: "hello", pid: process.pid, fingerprint: options.policy.fingerprint, summary: options.policy.summary }
  const failed = (error: NodeJS.ErrnoException) => new ControlSocketFailed({ socketPath, reason: error.code ?? error.message })
  type Role = Owner | Follower
  type Attempt<A> = Effect.Effect<A, ControlSocketFailed | Contended, Scope.Scope>
  // Some(role), or None when the address is taken (EADDRINUSE).
  const own: Attempt<Option.Option<Role>> = listen(socketPath).pipe(
    Effect.flatMap((server) => makeOwner(server, self)),
    Effect.map((owner): Option.Option<Role> => Option.some(owner)),
    Effect.catch((error) => codeOf(error) === "EADDRINUSE" ? Effect.succeedNone : Effect.fail(failed(error)))
  )
  // Some(role), or None when nobody listens: a dead owner's socket file (or none) is in the way.
  const follow: Attempt<Option.Option<Role>> = connect(socketPath).pipe(
    Effect.catch((error): Effect.Effect<undefined, ControlSocketFailed | Contended> => {
      const code = codeOf(error) ?? ""
      if (["ECONNREFUSED", "ENOENT"].includes(code)) return Effect.succeed(undefined)
      // An owner dying (or turning peers away) mid-connect: try again later, and never take its place for that.
      return ["ECONNRESET", "EPIPE", "EAGAIN"].includes(code) ? Effect.fail(new Contended()) : Effect.fail(failed(error))
    }),
    Effect.flatMap((socket) => socket === undefined ? Effect.succeedNone : makeFollower(socket, self).pipe(Effect.map((follower): Option.Option<Role> => Option.some(follower))))
  )
  const replaceDeadSocket: Attempt<Role> = Effect.sync(() => rmSync(socketPath, { force: true })).pipe(
    Effect.andThen(own),
    Effect.flatMap((owned) => Option.isSome(owned) ? Effect.succeed(owned.value) : Effect.fail(new Contended()))
  )

  const attempt: Attempt<Role> = Effect.gen(function*() {
    if (options.mayOwn) {
      const owned = yield* own
      if (Option.isSome(owned)) return owned.value
    }
    const followed = yield* follow
    if (Option.isSome(followed)) return followed.value
    if (!options.mayOwn || !(yield* takeLock(lockPath))) return yield* new Contended()
    // Under the lock: check again that nobody answers, then replace the dead socket.
    return yield* follow.pipe(
      Effect.flatMap((again) => Option.isSome(again) ? Effect.succeed(again.value) : replaceDeadSocket),
      Effect.ensuring(Effect.sync(() => rmSync(lockPath, { force: true, recursive: true })))
    )
  })

  return attempt.pipe(
    Effect.retry({ schedule: contention, while: (error) => error._tag === "Contended" }),
    Effect.catchTag("Contended", () => Effect.die("unreachable: contention is retried forever"))
  )
}
