/**
 * The `dingtalk-stream` SDK client, kept for what it does well (frame dispatch, SYSTEM ping answers,
 * event acks, the ack format) and changed where it stands in the way of a bridge that must never
 * silently die or print to stdout: the socket is opened here (the SDK's `_connect` prints
 * "connect success" to stdout and reconnects every second forever), with a fresh ticket per connection,
 * every CALLBACK acked before anything else, a guard against non-JSON frames, and a hook on `disconnect`.
 * Frames are untrusted: at most 1 MiB on the socket, nesting bounded before anything walks them, and a
 * frame that still throws is reported as malformed instead of crashing the process.
 */
import { DWClient, type DWClientDownStream } from "dingtalk-stream"
import type { Clock } from "effect"
import WebSocket from "ws"

const wallClock = { currentTimeMillisUnsafe: () => Date.now() }

/** The topic of robot messages. */
export const ROBOT_TOPIC = "/v1.0/im/bot/messages/get"

/** The topic of interactive card button clicks (cards created with `callbackType: "STREAM"`). */
export const CARD_TOPIC = "/v1.0/card/instances/callback"

/** The largest WebSocket message accepted (`ws` would take 100 MiB); DingTalk's own frames are a few KB. */
export const MAX_FRAME_PAYLOAD = 1024 * 1024

/** Deeper frames are refused before the SDK or a log line walks them (JSON.stringify recurses). */
export const MAX_FRAME_DEPTH = 32

/** True when `value` nests objects/arrays deeper than `limit`; iterative, so depth itself cannot overflow the stack. */
export const nestedDeeperThan = (value: unknown, limit: number): boolean => {
  const stack: Array<readonly [unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!
    if (typeof current !== "object" || current === null) continue
    if (depth >= limit) return true
    for (const child of Object.values(current)) stack.push([child, depth + 1])
  }
  return false
}

/** A short, safe preview of a raw frame for logs: sliced text, never a re-serialised object. */
const previewOf = (raw: string) => raw.slice(0, 500)

/** What the connection tells its owner. */
export interface StreamClientHooks {
  /** A CALLBACK frame; it has already been acked on this connection. */
  readonly onCallback: (frame: DWClientDownStream) => void
  /** The server announced it will close this connection soon. */
  readonly onDisconnectNotice: () => void
  /** A frame that is not a valid protocol frame (e.g. not JSON). */
  readonly onMalformedFrame: (raw: string, reason: string) => void
}

/** The SDK's private fields this adapter needs (typed `private` in its declarations). */
interface SdkInternals {
  dw_url?: string
  socket?: WebSocket
}

/** One DingTalk Stream connection. */
export class StreamClient extends DWClient {
  /** When the last frame or pong arrived (epoch ms, from `clock`): the dead-socket watchdog reads it. */
  lastActivity: number

  /** `clock` is the owner's Effect `Clock`, so a `TestClock` drives the watchdog too (wall time when omitted: one-off probes). */
  constructor(
    credentials: { readonly clientId: string; readonly clientSecret: string; readonly ua: string },
    private readonly hooks: StreamClientHooks,
    private readonly clock: Pick<Clock.Clock, "currentTimeMillisUnsafe"> = wallClock
  ) {
    super({ ...credentials, keepAlive: false, debug: false })
    this.lastActivity = clock.currentTimeMillisUnsafe()
    Object.assign(this.config, { autoReconnect: false, subscriptions: [{ type: "CALLBACK", topic: ROBOT_TOPIC }] })
  }

  private get internals(): SdkInternals {
    return this as unknown as SdkInternals
  }

  /** The live WebSocket, once open. */
  get webSocket(): WebSocket | undefined {
    return this.internals.socket
  }

  /** Opens the WebSocket with a ticket from the gateway (tickets are single-use). */
  open(endpoint: string, ticket: string): Promise<void> {
    const url = `${endpoint}${endpoint.includes("?") ? "&" : "?"}ticket=${encodeURIComponent(ticket)}`
    this.internals.dw_url = url
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { handshakeTimeout: 15_000, maxPayload: MAX_FRAME_PAYLOAD })
      this.internals.socket = socket
      socket.once("open", () => {
        this.connected = true
        this.lastActivity = this.clock.currentTimeMillisUnsafe()
        resolve()
      })
      socket.on("message", (data) => this.onDownStream(String(data)))
      socket.on("pong", () => {
        this.lastActivity = this.clock.currentTimeMillisUnsafe()
      })
      socket.on("close", () => {
        this.connected = false
        this.registered = false
      })
      // Before "open" an error fails the attempt; after it, "close" follows and ends the connection.
      socket.on("error", (error) => {
        reject(error)
        socket.terminate()
      })
    })
  }

  /** Closes the socket without the SDK's stdout chatter; a socket that does not close in time is destroyed. */
  close(): void {
    const socket = this.webSocket
    if (socket === undefined || socket.readyState === socket.CLOSED) return
    socket.close(1000, "bridge closing")
    // Socket plumbing outside any fiber (finalizers call it synchronously): a plain, unref'd timer.
    setTimeout(() => socket.terminate(), 1_000).unref()
  }

  /** Destroys the socket at once: for sockets that no longer answer. */
  terminate(): void {
    this.webSocket?.terminate()
  }

  override onDownStream(raw: string): void {
    this.lastActivity = this.clock.currentTimeMillisUnsafe()
    try {
      this.dispatch(raw)
    } catch (error) {
      // Whatever a frame contains, it costs at most itself: the socket and the process go on.
      this.hooks.onMalformedFrame(previewOf(raw), `frame could not be handled: ${error instanceof Error ? error.message.slice(0, 200) : "unknown error"}`)
    }
  }

  private dispatch(raw: string): void {
    let frame: DWClientDownStream
    try {
      frame = JSON.parse(raw)
    } catch {
      return this.hooks.onMalformedFrame(previewOf(raw), "frame is not JSON")
    }
    if (typeof frame !== "object" || frame === null || typeof frame.headers !== "object" || frame.headers === null) {
      return this.hooks.onMalformedFrame(previewOf(raw), "frame has no headers")
    }
    if (nestedDeeperThan(frame, MAX_FRAME_DEPTH)) {
      return this.hooks.onMalformedFrame(previewOf(raw), `frame nests deeper than ${MAX_FRAME_DEPTH} levels`)
    }
    switch (frame.type) {
      case "SYSTEM":
        return this.onSystem(frame)
      case "EVENT":
        return this.onEvent(frame)
      case "CALLBACK": {
        const messageId = frame.headers.messageId
        if (typeof messageId !== "string" || messageId === "") {
          return this.hooks.onMalformedFrame(previewOf(raw), "CALLBACK frame without headers.messageId cannot be acked")
        }
        return this.onCallback(frame)
      }
      default:
        return this.hooks.onMalformedFrame(previewOf(raw), `unknown frame type ${typeof frame.type === "string" ? JSON.stringify(frame.type.slice(0, 40)) : typeof frame.type}`)
    }
  }

  override onSystem(frame: DWClientDownStream): void {
    super.onSystem(frame)
    if (frame.headers.topic === "disconnect") this.hooks.onDisconnectNotice()
  }

  override onCallback(frame: DWClientDownStream): void {
    // Ack first: DingTalk re-pushes anything un-acked, and the agent turn may take minutes.
    this.socketCallBackResponse(frame.headers.messageId, null)
    this.hooks.onCallback(frame)
  }
}
