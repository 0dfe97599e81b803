/**
 * One robot, one owner: for a given client ID exactly one process on the machine holds the DingTalk
 * connection. Ownership is a Unix socket under the user's state directory (mode 0700): whoever listens
 * on it owns the robot, and the socket is also how the other instances (e.g. the MCP server OpenCode
 * launches) forward their tool calls to the owner. A socket left by a dead owner refuses connections
 * and is replaced, under a short lock so two survivors never both take over.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { mkdirSync, rmSync, statSync } from "node:fs"
import net from "node:net"
import { socketPathFor } from "../core/StateDir.js"

/** A forwarded tool call and its answer, one JSON object per line. */
export interface ControlRequest {
  readonly id: number
  readonly tool: string
  readonly arguments: unknown
}
/** The owner's answer to a forwarded call. */
export interface ControlResponse {
  readonly id: number
  readonly result: CallToolResult
}

/** This process owns the robot: forwarded calls arrive through `serve`. */
export interface Owner {
  readonly _tag: "Owner"
  /** Answers forwarded tool calls with `handle` until `close`. */
  readonly serve: (handle: (tool: string, args: unknown) => Promise<ControlResponse["result"]>) => void
  readonly close: () => Promise<void>
}

/** Another process owns the robot: calls are forwarded to it. */
export interface Follower {
  readonly _tag: "Follower"
  readonly call: (tool: string, args: unknown) => Promise<ControlResponse["result"]>
  /** Resolves when the owner has gone (its socket closed). */
  readonly ownerGone: Promise<void>
  readonly close: () => void
}

const connect = (socketPath: string): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(socketPath)
    socket.once("connect", () => resolve(socket))
    socket.once("error", reject)
  })

const listen = (socketPath: string): Promise<net.Server> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(socketPath, () => {
      server.off("error", reject)
      resolve(server)
    })
  })

const codeOf = (error: unknown) => (error as NodeJS.ErrnoException).code

/** Becomes the owner, or a follower of the live owner. */
export const acquire = async (stateDir: string, clientId: string): Promise<Owner | Follower> => {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  const socketPath = socketPathFor(stateDir, clientId)
  const lockPath = `${socketPath}.lock`
  for (let attempt = 0; ; attempt++) {
    try {
      return owner(await listen(socketPath))
    } catch (error) {
      if (codeOf(error) !== "EADDRINUSE") throw error
    }
    try {
      return follower(await connect(socketPath))
    } catch (error) {
      if (codeOf(error) !== "ECONNREFUSED" && codeOf(error) !== "ENOENT") throw error
    }
    // A dead owner's socket: replace it, under the lock, after checking again that nobody answers.
    if (takeLock(lockPath)) {
      try {
        try {
          return follower(await connect(socketPath))
        } catch {
          rmSync(socketPath, { force: true })
          return owner(await listen(socketPath))
        }
      } finally {
        rmSync(lockPath, { force: true, recursive: true })
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100 * Math.min(attempt + 1, 10)))
  }
}

/** A directory is created atomically; one left by a crash expires after 10 s. */
const takeLock = (lockPath: string): boolean => {
  try {
    mkdirSync(lockPath)
    return true
  } catch {
    try {
      if (Date.now() - statSync(lockPath).mtimeMs > 10_000) rmSync(lockPath, { recursive: true, force: true })
    } catch {
      // gone meanwhile
    }
    return false
  }
}

const lines = (socket: net.Socket, onLine: (line: string) => void) => {
  let buffer = ""
  socket.setEncoding("utf8")
  socket.on("data", (chunk: string) => {
    buffer += chunk
    let newline
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      if (line.trim() !== "") onLine(line)
    }
  })
}

const owner = (server: net.Server): Owner => {
  const sockets = new Set<net.Socket>()
  return {
    _tag: "Owner",
    serve: (handle) => {
      server.on("connection", (socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => socket.destroy())
        lines(socket, (line) => {
          let request: ControlRequest
          try {
            request = JSON.parse(line)
          } catch {
            return
          }
          void handle(request.tool, request.arguments)
            .catch((error: unknown): CallToolResult => ({ isError: true, content: [{ type: "text", text: `The owner failed: ${String(error)}` }] }))
            .then((result) => {
              if (!socket.destroyed) socket.write(`${JSON.stringify({ id: request.id, result } satisfies ControlResponse)}\n`)
            })
        })
      })
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

const follower = (socket: net.Socket): Follower => {
  const pending = new Map<number, (result: ControlResponse["result"]) => void>()
  let nextId = 1
  const ownerGone = new Promise<void>((resolve) => {
    socket.on("close", () => resolve())
    socket.on("error", () => socket.destroy())
  })
  void ownerGone.then(() => {
    for (const resolve of pending.values()) {
      resolve({ isError: true, content: [{ type: "text", text: "The process that owned the DingTalk connection exited; try again in a few seconds." }] })
    }
    pending.clear()
  })
  lines(socket, (line) => {
    try {
      const response: ControlResponse = JSON.parse(line)
      pending.get(response.id)?.(response.result)
      pending.delete(response.id)
    } catch {
      // not a response
    }
  })
  return {
    _tag: "Follower",
    call: (tool, args) =>
      new Promise((resolve) => {
        if (socket.destroyed) {
          return resolve({ isError: true, content: [{ type: "text", text: "The owner of the DingTalk connection is gone; try again in a few seconds." }] })
        }
        const id = nextId++
        pending.set(id, resolve)
        socket.write(`${JSON.stringify({ id, tool, arguments: args } satisfies ControlRequest)}\n`)
      }),
    ownerGone,
    close: () => socket.destroy(),
  }
}
