/**
 * The `dingtalk-stream` SDK client, kept for what it does well (the socket, SYSTEM pings, event acks)
 * and changed where it stands in the way of a bridge that must never silently die:
 * no built-in reconnect (the bridge owns it, with a Schedule), a fresh ticket per connection, every
 * CALLBACK acked before anything else, a guard against non-JSON frames, and a hook on `disconnect`.
 */
import { DWClient, type DWClientDownStream } from "dingtalk-stream"
import type WebSocket from "ws"

/** The topic of robot messages. */
export const ROBOT_TOPIC = "/v1.0/im/bot/messages/get"

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
  /** When the last frame or pong arrived (epoch ms): the dead-socket watchdog reads it. */
  lastActivity = Date.now()

  constructor(credentials: { readonly clientId: string; readonly clientSecret: string; readonly ua: string }, private readonly hooks: StreamClientHooks) {
    super({ ...credentials, keepAlive: false, debug: false })
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
  async open(endpoint: string, ticket: string): Promise<void> {
    this.internals.dw_url = `${endpoint}${endpoint.includes("?") ? "&" : "?"}ticket=${encodeURIComponent(ticket)}`
    await this._connect()
    this.lastActivity = Date.now()
    this.webSocket?.on("pong", () => {
      this.lastActivity = Date.now()
    })
  }

  /** Closes the socket without the SDK's stdout chatter; a socket that does not close in time is destroyed. */
  close(): void {
    const socket = this.webSocket
    if (socket === undefined || socket.readyState === socket.CLOSED) return
    socket.close(1000, "bridge closing")
    setTimeout(() => socket.terminate(), 1_000).unref()
  }

  /** Destroys the socket at once: for sockets that no longer answer. */
  terminate(): void {
    this.webSocket?.terminate()
  }

  override onDownStream(data: string): void {
    this.lastActivity = Date.now()
    const raw = String(data)
    let frame: DWClientDownStream
    try {
      frame = JSON.parse(raw)
    } catch {
      return this.hooks.onMalformedFrame(raw, "frame is not JSON")
    }
    if (typeof frame !== "object" || frame === null || typeof frame.headers !== "object" || frame.headers === null) {
      return this.hooks.onMalformedFrame(raw, "frame has no headers")
    }
    switch (frame.type) {
      case "SYSTEM":
        return this.onSystem(frame)
      case "EVENT":
        return this.onEvent(frame)
      case "CALLBACK":
        return this.onCallback(frame)
      default:
        return this.hooks.onMalformedFrame(raw, `unknown frame type ${JSON.stringify(frame.type)}`)
    }
  }

  override onSystem(frame: DWClientDownStream): void {
    super.onSystem(frame)
    if (frame.headers.topic === "disconnect") this.hooks.onDisconnectNotice()
  }

  override onCallback(frame: DWClientDownStream): void {
    const messageId = frame.headers.messageId
    if (typeof messageId !== "string" || messageId === "") {
      return this.hooks.onMalformedFrame(JSON.stringify(frame).slice(0, 500), "CALLBACK frame without headers.messageId cannot be acked")
    }
    // Ack first: DingTalk re-pushes anything un-acked, and the agent turn may take minutes.
    this.socketCallBackResponse(messageId, null)
    this.hooks.onCallback(frame)
  }
}
