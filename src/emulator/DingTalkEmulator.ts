/**
 * A DingTalk emulator that speaks the real Stream-mode protocol on 127.0.0.1: gateway open with a
 * credentials check and single-use tickets, the WebSocket with CALLBACK / SYSTEM frames and ack
 * tracking, `sessionWebhook` endpoints that record replies, and the token + robot OpenAPI.
 * Failures can be injected (gateway errors, dropped / frozen / disconnecting sockets, 130101, 300001).
 * It never writes to stdout or stderr: processes that embed it speak JSON-RPC on stdout.
 */
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import http from "node:http"
import type { AddressInfo, Socket } from "node:net"
import type { Duplex } from "node:stream"
import { WebSocket, WebSocketServer } from "ws"
import { type CardFailure, type EmulatedCard, makeEmulatedCards, type RecordedCardCall } from "./EmulatedCards.js"

export type { CardFailure, EmulatedCard, RecordedCardCall } from "./EmulatedCards.js"

/** Options of the emulator; every one has a default. */
export interface DingTalkEmulatorOptions {
  /** Default `"ding-test-client"`. */
  readonly clientId?: string
  /** Default `"test-secret"`. */
  readonly clientSecret?: string
  /** Default: the client ID (as for an internal app robot). */
  readonly robotCode?: string
  /** Interval of server SYSTEM pings to every open connection; 0 (default) = none. */
  readonly pingIntervalMs?: number
  /** Re-push an un-acked CALLBACK (new frame ID, same data) after this; 0 (default) = never. */
  readonly redeliverAfterMs?: number
  /** `sessionWebhookExpiredTime` = push time + this; default 90 minutes. */
  readonly webhookTtlMs?: number
  /** `expireIn` of issued access tokens; default 7200. */
  readonly tokenTtlSeconds?: number
  /** After a SYSTEM disconnect notice the server closes that socket this much later; default 10 000. */
  readonly disconnectCloseAfterMs?: number
  /** Which open connection a push goes to when none is named; DingTalk picks at random (default). */
  readonly pick?: "random" | "first" | "last"
  /**
   * Refuse a send (webhook: errcode 130101; OpenAPI: HTTP 429) that would make more than `limit`
   * accepted sends of the robot in any sliding window of `windowMs`, as DingTalk does. Default: off.
   */
  readonly enforceRateLimit?: { readonly limit: number; readonly windowMs: number }
}

/** The robot message fields a test may set (everything else gets a realistic default). */
export interface RobotMessageFields {
  conversationId: string
  /** `"1"` = 1:1, `"2"` = group. */
  conversationType: "1" | "2"
  conversationTitle: string
  msgId: string
  msgtype: string
  senderNick: string
  senderId: string
  /** `null` leaves the field out, as for a user outside the organisation. */
  senderStaffId: string | null
  senderCorpId: string
  chatbotUserId: string
  chatbotCorpId: string
  robotCode: string
  isAdmin: boolean
  isInAtList: boolean
  atUsers: ReadonlyArray<{ dingtalkId: string; staffId?: string }>
  /** The `content` object of non-text messages (richText, picture, audio, file …). */
  content: unknown
  createAt: number
  sessionWebhookExpiredTime: number
}

/** A reply the emulator received and accepted, in arrival order. */
export interface RecordedReply {
  readonly route: "webhook" | "openapi-o2o" | "openapi-group"
  readonly conversationId: string
  readonly msgtype: string
  /** `markdown.text`, `text.content`, `actionCard.text` or the OpenAPI `msgParam` text / content. */
  readonly text: string
  readonly title: string | undefined
  /** The parsed request body. */
  readonly body: any
  /** UTF-8 byte length of the request body. */
  readonly bytes: number
  /** `performance.now()` when it arrived. */
  readonly at: number
}

/** An ack received from the client. */
export interface RecordedAck {
  readonly frameId: string
  readonly connectionId: string
  /** `performance.now()` when it arrived. */
  readonly at: number
  readonly code: unknown
  readonly data: unknown
}

/** A client's answer to a SYSTEM ping. */
export interface RecordedPong {
  readonly pingId: string
  readonly connectionId: string
  /** `performance.now()` when it arrived. */
  readonly at: number
}

/** A pushed robot message. */
export interface Pushed {
  readonly frameId: string
  readonly msgId: string
  readonly conversationId: string
  /** `performance.now()` when the frame was written to the socket (or queued). */
  readonly pushedAt: number
  /** The connection it went to; `undefined` when it was queued because none was open. */
  readonly connectionId: string | undefined
  /** No connection was open: it goes out when one opens, as the real server holds pushes. */
  readonly queued: boolean
}

/** A card button click: the card, who clicked (staff ID), the button's action ID and its params. */
export interface CardClickFields {
  readonly outTrackId: string
  readonly userId: string
  readonly actionId: string
  readonly params?: Record<string, string>
  /** `"im"` in 1:1 chats (as observed by peers); default `""`. */
  readonly spaceType?: string
}

/** Where a push goes. */
export interface PushOptions {
  /** A specific open connection; throws if it is not open. Default: one picked per `pick`. */
  readonly connectionId?: string
}

/** The running emulator and its controls. */
export interface DingTalkEmulator {
  /** `http://127.0.0.1:<port>`: the API base URL (DINGTALK_API_URL) for the bridge. */
  readonly url: string
  readonly clientId: string
  readonly clientSecret: string
  readonly robotCode: string
  /** Connections that are open and not frozen, oldest first. */
  openConnections(): ReadonlyArray<{ readonly id: string; readonly openedAt: number }>
  /** WebSocket connections ever accepted. */
  readonly totalConnections: number
  /** Resolves when at least `n` connections are open. */
  waitForConnections(n: number, timeoutMs?: number): Promise<void>
  /** Resolves when more than `afterTotal` connections were ever accepted and one is open. */
  waitForNewConnection(afterTotal: number, timeoutMs?: number): Promise<void>
  /** Calls of `POST /v1.0/gateway/connections/open`, failed ones included. */
  readonly gatewayCalls: number
  /** The next `times` gateway calls answer HTTP `status`. */
  failGateway(times: number, status?: number): void
  /** `subscriptions` of the last gateway call. */
  readonly lastSubscriptions: unknown
  /** WebSocket upgrades refused (unknown or reused ticket, wrong path). */
  readonly refusedUpgrades: number
  /** Pushes a robot message as a CALLBACK frame. */
  pushMessage(message?: Partial<RobotMessageFields> & { text?: string }, options?: PushOptions): Pushed
  /** Pushes a CALLBACK frame whose `data` string is `data`; returns the frame ID. */
  pushRaw(data: string, options?: PushOptions): string
  /**
   * Pushes a card button click on the card callback topic (`/v1.0/card/instances/callback`), shaped as
   * DingTalk's samples show it; returns the frame ID (its ack is in `acks`).
   */
  pushCardCallback(click: CardClickFields, options?: PushOptions): string
  /** Sends `text` as a raw WebSocket message (it need not be JSON). */
  pushFrame(text: string, options?: PushOptions): void
  /** Pushes the data of an earlier frame again under a new frame ID, as DingTalk does for un-acked pushes. */
  redeliver(frameId: string): { frameId: string }
  /** Pushes not yet delivered because no connection was open. */
  readonly queuedPushes: number
  readonly acks: ReadonlyArray<RecordedAck>
  isAcked(frameId: string): boolean
  waitForAck(frameId: string, timeoutMs?: number): Promise<RecordedAck>
  /** Answers to SYSTEM pings (from `sendPing` and `pingIntervalMs`). */
  readonly pongs: ReadonlyArray<RecordedPong>
  /** Sends a SYSTEM ping (default: newest connection); resolves when the client echoes it. */
  sendPing(connectionId?: string, timeoutMs?: number): Promise<void>
  /** Sends a SYSTEM disconnect notice (default: newest connection) and closes it `disconnectCloseAfterMs` later. */
  sendDisconnect(connectionId?: string): void
  /** The server kills the socket (default: newest connection) without a close handshake. */
  dropConnection(connectionId?: string): void
  /** Makes the socket half-open (default: newest connection): nothing is sent or read, and it never closes. */
  freezeConnection(connectionId?: string): void
  /** Accepted replies, in arrival order. */
  readonly replies: ReadonlyArray<RecordedReply>
  repliesFor(conversationId: string): ReadonlyArray<RecordedReply>
  /** Resolves with the (matching) replies once at least `count` are recorded. */
  waitForReplies(count: number, options?: { conversationId?: string; timeoutMs?: number }): Promise<ReadonlyArray<RecordedReply>>
  /** The next `times` webhook sends (to `conversationId`, or any) answer `errcode` and are not recorded. */
  failWebhook(errcode: number, times?: number, conversationId?: string): void
  /** Expires the conversation's current sessionWebhook (300001); the next push issues a fresh one. */
  expireWebhook(conversationId: string): void
  /** Webhook requests, failed ones included. */
  readonly webhookAttempts: number
  /** Sends refused by `enforceRateLimit`. */
  readonly rateLimited: number
  /** Calls of `POST /v1.0/oauth2/accessToken`. */
  readonly tokenCalls: number
  /** TCP connections accepted for plain HTTP (WebSocket upgrades not counted). */
  readonly httpConnections: number
  /** AI cards created (createAndDeliver accepted), in creation order. */
  readonly cards: ReadonlyArray<EmulatedCard>
  cardsFor(conversationId: string): ReadonlyArray<EmulatedCard>
  /** Every card API call, refused ones included, in arrival order. */
  readonly cardCalls: ReadonlyArray<RecordedCardCall>
  /** Resolves with the matching cards once at least `count` exist. */
  waitForCards(count: number, options?: { conversationId?: string; timeoutMs?: number }): Promise<ReadonlyArray<EmulatedCard>>
  /** Resolves once the card's streaming is finalized and its flowStatus is finished (3) or failed (5). */
  waitForCardFinished(outTrackId: string, timeoutMs?: number): Promise<EmulatedCard>
  /** The next `times` card calls of `kind` answer `status` (403 permission, 403/429 QpsLimit, 500). */
  failCard(failure: CardFailure): void
  /** Closes every socket and the server; never hangs. */
  close(): Promise<void>
}

const ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
const CARD_TOPIC = "/v1.0/card/instances/callback"
const MAX_BODY_BYTES = 20_000

interface Connection {
  readonly id: string
  readonly ws: WebSocket
  readonly openedAt: number
}

interface Waiter {
  readonly check: () => void
  readonly fail: (error: Error) => void
}

const readBody = (request: http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const parse = (text: string): any => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const json = (response: http.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  response.end(text)
}

const refuse = (socket: Duplex, status: string) => {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** What a webhook body says, whatever its msgtype. */
const textOf = (body: any): { msgtype: string; text: string; title: string | undefined } => {
  if (body?.msgtype === "markdown") return { msgtype: "markdown", text: String(body.markdown?.text ?? ""), title: body.markdown?.title }
  if (body?.msgtype === "text") return { msgtype: "text", text: String(body.text?.content ?? ""), title: undefined }
  if (body?.msgtype === "actionCard") return { msgtype: "actionCard", text: String(body.actionCard?.text ?? ""), title: body.actionCard?.title }
  return { msgtype: String(body?.msgtype), text: JSON.stringify(body), title: undefined }
}

/** Starts an emulator on 127.0.0.1 with a free port. */
export const startDingTalkEmulator = async (options: DingTalkEmulatorOptions = {}): Promise<DingTalkEmulator> => {
  const clientId = options.clientId ?? "ding-test-client"
  const clientSecret = options.clientSecret ?? "test-secret"
  const robotCode = options.robotCode ?? clientId
  const webhookTtlMs = options.webhookTtlMs ?? 90 * 60_000
  const closeAfterMs = options.disconnectCloseAfterMs ?? 10_000
  const redeliverAfterMs = options.redeliverAfterMs ?? 0
  const pick = options.pick ?? "random"

  const tickets = new Set<string>()
  const connections = new Map<string, Connection>()
  const webhookConversation = new Map<string, string>() // token → conversation
  const webhookToken = new Map<string, string>() // conversation → current token
  const webhookExpiry = new Map<string, number>() // token → epoch ms
  const staffConversation = new Map<string, string>() // staff ID → its 1:1 conversation
  const groupConversations = new Set<string>() // conversations pushed as groups
  const accessTokens = new Set<string>()
  const webhookFailures: Array<{ errcode: number; left: number; conversationId: string | undefined }> = []
  // Undelivered pushes; CALLBACK frames are built on delivery so headers name the real connection.
  const queue: Array<{ frameId: string; data: string; topic?: string } | { raw: string }> = []
  const frameData = new Map<string, string>() // frame ID → data, for redelivery
  const pingIds = new Set<string>()
  const timers = new Set<NodeJS.Timeout>()
  const acks: Array<RecordedAck> = []
  const ackOf = new Map<string, RecordedAck>()
  const pongs: Array<RecordedPong> = []
  const frozen: Array<Socket> = []
  const replies: Array<RecordedReply> = []
  const repliesByConversation = new Map<string, Array<RecordedReply>>()
  const waiters = new Set<Waiter>()
  let gatewayFailures = { times: 0, status: 503 }
  let connectionCounter = 0
  let frameCounter = 0
  let msgCounter = 0
  let gatewayCalls = 0
  let webhookAttempts = 0
  let tokenCalls = 0
  let httpConnections = 0
  let refusedUpgrades = 0
  let rateLimited = 0
  const acceptedSends: Array<number> = [] // performance.now() of accepted sends within the last window
  let lastSubscriptions: unknown = undefined
  let closed = false
  let url = ""

  // Waits are woken by every state change instead of polling, so measured latencies stay exact.
  const notify = () => {
    for (const waiter of [...waiters]) waiter.check()
  }

  const waitFor = <A>(what: string, check: () => A | undefined, timeoutMs: number): Promise<A> =>
    new Promise((resolve, reject) => {
      const first = check()
      if (first !== undefined) return resolve(first)
      if (closed) return reject(new Error(`DingTalk emulator: closed while waiting for ${what}`))
      const done = () => {
        clearTimeout(timer)
        waiters.delete(waiter)
      }
      const waiter: Waiter = {
        check: () => {
          const value = check()
          if (value === undefined) return
          done()
          resolve(value)
        },
        fail: (error) => {
          done()
          reject(error)
        },
      }
      const timer = setTimeout(() => waiter.fail(new Error(`DingTalk emulator: timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
      waiters.add(waiter)
    })

  const later = (ms: number, f: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      f()
    }, ms)
    timers.add(timer)
  }

  const isOpen = (connection: Connection) => connection.ws.readyState === WebSocket.OPEN

  const choose = (connectionId: string | undefined): Connection | undefined => {
    if (connectionId !== undefined) {
      const connection = connections.get(connectionId)
      if (connection === undefined || !isOpen(connection)) throw new Error(`DingTalk emulator: connection ${connectionId} is not open`)
      return connection
    }
    const open = [...connections.values()].filter(isOpen)
    if (open.length === 0) return undefined
    if (pick === "first") return open[0]
    if (pick === "last") return open[open.length - 1]
    return open[Math.floor(Math.random() * open.length)]
  }

  const connectionOrThrow = (connectionId: string | undefined): Connection => {
    const connection = connectionId === undefined ? [...connections.values()].at(-1) : connections.get(connectionId)
    if (connection === undefined) throw new Error(`DingTalk emulator: no open connection${connectionId === undefined ? "" : ` ${connectionId}`}`)
    return connection
  }

  const callbackFrame = (frameId: string, data: string, connectionId: string, topic = ROBOT_TOPIC) =>
    JSON.stringify({
      specVersion: "1.0",
      type: "CALLBACK",
      headers: { appId: clientId, connectionId, contentType: "application/json", messageId: frameId, time: String(Date.now()), topic },
      data,
    })

  const systemFrame = (topic: string, data: string, messageId: string, connectionId: string) =>
    JSON.stringify({
      specVersion: "1.0",
      type: "SYSTEM",
      headers: { appId: clientId, connectionId, contentType: "application/json", messageId, time: String(Date.now()), topic },
      data,
    })

  /** Sends a CALLBACK now or queues it; returns the connection it went to. */
  const pushData = (data: string, connectionId: string | undefined, topic = ROBOT_TOPIC): { frameId: string; connectionId: string | undefined } => {
    const frameId = `frame-${++frameCounter}-${randomUUID().slice(0, 8)}`
    frameData.set(frameId, data)
    const target = choose(connectionId)
    if (target === undefined) queue.push({ frameId, data, topic })
    else target.ws.send(callbackFrame(frameId, data, target.id, topic))
    if (redeliverAfterMs > 0) {
      later(redeliverAfterMs, () => {
        if (!ackOf.has(frameId)) pushData(data, undefined, topic)
      })
    }
    return { frameId, connectionId: target?.id }
  }

  const sendPingFrame = (connection: Connection, pingId: string) => {
    pingIds.add(pingId)
    connection.ws.send(systemFrame("ping", JSON.stringify({ opaque: pingId }), pingId, connection.id))
  }

  /** The conversation's sessionWebhook URL; an expired one is replaced, as each message brings a fresh one. */
  const webhookFor = (conversationId: string, expiresAt: number) => {
    let token = webhookToken.get(conversationId)
    if (token === undefined || (webhookExpiry.get(token) ?? 0) < Date.now()) {
      token = randomUUID()
      webhookToken.set(conversationId, token)
      webhookConversation.set(token, conversationId)
    }
    webhookExpiry.set(token, expiresAt)
    return `${url}/robot/sendBySession?session=${token}`
  }

  const record = (reply: RecordedReply) => {
    replies.push(reply)
    const list = repliesByConversation.get(reply.conversationId) ?? []
    list.push(reply)
    repliesByConversation.set(reply.conversationId, list)
    notify()
  }

  /** True (and counted) when one more send now would exceed `enforceRateLimit` in the window ending now. */
  const overRateLimit = () => {
    const limits = options.enforceRateLimit
    if (limits === undefined) return false
    const now = performance.now()
    while (acceptedSends.length > 0 && acceptedSends[0]! <= now - limits.windowMs) acceptedSends.shift()
    if (acceptedSends.length < limits.limit) {
      acceptedSends.push(now)
      return false
    }
    rateLimited++
    return true
  }

  const handleWebhook = (requestUrl: URL, raw: string, response: http.ServerResponse) => {
    webhookAttempts++
    const token = requestUrl.searchParams.get("session") ?? ""
    const conversationId = webhookConversation.get(token)
    if (conversationId === undefined || (webhookExpiry.get(token) ?? 0) < Date.now()) {
      return json(response, 200, { errcode: 300001, errmsg: "session webhook expired" })
    }
    const failure = webhookFailures.find((f) => f.left > 0 && (f.conversationId === undefined || f.conversationId === conversationId))
    if (failure !== undefined) {
      failure.left--
      return json(response, 200, { errcode: failure.errcode, errmsg: "injected failure" })
    }
    const bytes = Buffer.byteLength(raw)
    if (bytes > MAX_BODY_BYTES) return json(response, 200, { errcode: 460101, errmsg: "message too long" })
    const body = parse(raw)
    if (typeof body !== "object" || body === null) return json(response, 200, { errcode: 400001, errmsg: "invalid json" })
    if (overRateLimit()) return json(response, 200, { errcode: 130101, errmsg: "send too fast" })
    record({ route: "webhook", conversationId, ...textOf(body), body, bytes, at: performance.now() })
    json(response, 200, { errcode: 0, errmsg: "ok" })
  }

  const handleOpenApi = (path: string, request: http.IncomingMessage, raw: string, response: http.ServerResponse) => {
    const token = request.headers["x-acs-dingtalk-access-token"]
    if (typeof token !== "string" || !accessTokens.has(token)) return json(response, 401, { code: "InvalidAuthentication", message: "access token is invalid" })
    const body = parse(raw)
    if (body?.robotCode !== robotCode) return json(response, 400, { code: "invalidParameter.robotCode", message: `unknown robotCode ${body?.robotCode}` })
    if (overRateLimit()) return json(response, 429, { code: "Throttling", message: "130101 send too fast" })
    const param = parse(String(body.msgParam ?? ""))
    const markdown = body.msgKey === "sampleMarkdown"
    const common = {
      msgtype: markdown ? "markdown" : "text",
      text: String(param?.text ?? param?.content ?? ""),
      title: typeof param?.title === "string" ? param.title : undefined,
      body,
      bytes: Buffer.byteLength(raw),
      at: performance.now(),
    }
    if (path === "/v1.0/robot/oToMessages/batchSend") {
      const staffId = String(body.userIds?.[0])
      record({ route: "openapi-o2o", conversationId: staffConversation.get(staffId) ?? `user:${staffId}`, ...common })
    } else {
      record({ route: "openapi-group", conversationId: String(body.openConversationId), ...common })
    }
    json(response, 200, { processQueryKey: randomUUID() })
  }

  const cardApi = makeEmulatedCards({
    robotCode,
    isValidToken: (token) => typeof token === "string" && accessTokens.has(token),
    conversationOf: (openSpaceId) => {
      const group = /^dtv1\.card\/\/IM_GROUP\.(.+)$/.exec(openSpaceId)
      if (group !== null) return groupConversations.has(group[1]!) ? group[1] : undefined
      const single = /^dtv1\.card\/\/IM_ROBOT\.(.+)$/.exec(openSpaceId)
      return single === null ? undefined : staffConversation.get(single[1]!)
    },
    changed: () => notify(),
  })

  const handle = (request: http.IncomingMessage, raw: string, response: http.ServerResponse) => {
    const requestUrl = new URL(request.url ?? "/", url)
    const path = requestUrl.pathname
    if (path.startsWith("/v1.0/card/")) {
      const handled = cardApi.handle(request.method ?? "GET", path, request.headers["x-acs-dingtalk-access-token"], parse(raw), (status, body) => json(response, status, body))
      if (handled) return
    }
    if (request.method !== "POST") return json(response, 404, { code: "NotFound", message: path })
    if (path === "/v1.0/gateway/connections/open") {
      gatewayCalls++
      const body = parse(raw)
      lastSubscriptions = body?.subscriptions
      if (gatewayFailures.times > 0) {
        gatewayFailures.times--
        return json(response, gatewayFailures.status, { code: "ServiceUnavailable", message: "injected gateway failure" })
      }
      if (body?.clientId !== clientId || body?.clientSecret !== clientSecret) {
        return json(response, 401, { code: "InvalidAuthentication", message: "clientId or clientSecret is wrong" })
      }
      const ticket = randomUUID()
      tickets.add(ticket)
      return json(response, 200, { endpoint: `${url.replace(/^http/, "ws")}/connect`, ticket })
    }
    if (path === "/robot/sendBySession") return handleWebhook(requestUrl, raw, response)
    if (path === "/v1.0/oauth2/accessToken") {
      tokenCalls++
      const body = parse(raw)
      if (body?.appKey !== clientId || body?.appSecret !== clientSecret) return json(response, 400, { code: "invalidClientIdOrSecret", message: "wrong appKey or appSecret" })
      const accessToken = randomUUID().replaceAll("-", "")
      accessTokens.add(accessToken)
      return json(response, 200, { accessToken, expireIn: options.tokenTtlSeconds ?? 7200 })
    }
    if (path === "/v1.0/robot/oToMessages/batchSend" || path === "/v1.0/robot/groupMessages/send") return handleOpenApi(path, request, raw, response)
    json(response, 404, { code: "NotFound", message: path })
  }

  const server = http.createServer((request, response) => {
    readBody(request).then((raw) => handle(request, raw, response), () => response.destroy())
  })
  server.on("connection", (socket: Socket) => {
    // Every TCP connection lands here; upgrades are subtracted again in the upgrade handler.
    httpConnections++
    socket.setNoDelay(true)
  })

  const accept = (ws: WebSocket) => {
    const id = `conn-${++connectionCounter}`
    connections.set(id, { id, ws, openedAt: Date.now() })
    ws.on("message", (data) => {
      const message = parse(String(data))
      const messageId = message?.headers?.messageId
      if (typeof messageId !== "string") return
      if (pingIds.delete(messageId)) {
        pongs.push({ pingId: messageId, connectionId: id, at: performance.now() })
      } else {
        const ack: RecordedAck = { frameId: messageId, connectionId: id, at: performance.now(), code: message.code, data: message.data }
        acks.push(ack)
        if (!ackOf.has(messageId)) ackOf.set(messageId, ack)
      }
      notify()
    })
    const gone = () => {
      // A frozen connection stays out of the map even though its socket is still there.
      if (connections.get(id)?.ws === ws) connections.delete(id)
      notify()
    }
    ws.on("close", gone)
    ws.on("error", gone)
    for (const item of queue.splice(0)) ws.send("raw" in item ? item.raw : callbackFrame(item.frameId, item.data, id, item.topic))
    notify()
  }

  const wss = new WebSocketServer({ noServer: true })
  server.on("upgrade", (request, socket, head) => {
    httpConnections--
    const requestUrl = new URL(request.url ?? "/", url)
    if (requestUrl.pathname !== "/connect") {
      refusedUpgrades++
      return refuse(socket, "404 Not Found")
    }
    // Single-use: a reconnect must call the gateway again.
    if (closed || !tickets.delete(requestUrl.searchParams.get("ticket") ?? "")) {
      refusedUpgrades++
      return refuse(socket, "401 Unauthorized")
    }
    wss.handleUpgrade(request, socket, head, accept)
  })

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  if ((options.pingIntervalMs ?? 0) > 0) {
    const interval = setInterval(() => {
      for (const connection of connections.values()) if (isOpen(connection)) sendPingFrame(connection, randomUUID())
    }, options.pingIntervalMs)
    timers.add(interval)
  }

  const emulator: DingTalkEmulator = {
    get url() {
      return url
    },
    clientId,
    clientSecret,
    robotCode,
    openConnections: () => [...connections.values()].filter(isOpen).map(({ id, openedAt }) => ({ id, openedAt })),
    get totalConnections() {
      return connectionCounter
    },
    waitForConnections: (n, timeoutMs = 5_000) =>
      waitFor(`${n} open connection(s)`, () => ([...connections.values()].filter(isOpen).length >= n ? true : undefined), timeoutMs).then(() => undefined),
    waitForNewConnection: (afterTotal, timeoutMs = 5_000) =>
      waitFor(`a connection after #${afterTotal}`, () => (connectionCounter > afterTotal && [...connections.values()].some(isOpen) ? true : undefined), timeoutMs)
        .then(() => undefined),
    get gatewayCalls() {
      return gatewayCalls
    },
    failGateway: (times, status = 503) => {
      gatewayFailures = { times, status }
    },
    get lastSubscriptions() {
      return lastSubscriptions
    },
    get refusedUpgrades() {
      return refusedUpgrades
    },
    pushMessage: (message = {}, pushOptions = {}) => {
      const { text, ...fields } = message
      const conversationId = fields.conversationId ?? "cid-test-1"
      const conversationType = fields.conversationType ?? "1"
      const senderStaffId = fields.senderStaffId === undefined ? "staff-1" : fields.senderStaffId
      const msgId = fields.msgId ?? `msg-${++msgCounter}-${randomUUID().slice(0, 8)}`
      const now = Date.now()
      const expiresAt = fields.sessionWebhookExpiredTime ?? now + webhookTtlMs
      // The OpenAPI 1:1 route names a user, not a conversation: remember whose chat this is.
      if (conversationType === "1" && senderStaffId !== null) staffConversation.set(senderStaffId, conversationId)
      if (conversationType === "2") groupConversations.add(conversationId)
      const msgtype = fields.msgtype ?? "text"
      const data = JSON.stringify({
        conversationId,
        conversationType,
        ...(conversationType === "2"
          ? {
            conversationTitle: fields.conversationTitle ?? "Test group",
            isInAtList: fields.isInAtList ?? true,
            atUsers: fields.atUsers ?? [{ dingtalkId: fields.chatbotUserId ?? "$:LWCP_v1:$bot" }],
          }
          : {}),
        chatbotCorpId: fields.chatbotCorpId ?? "ding-corp",
        chatbotUserId: fields.chatbotUserId ?? "$:LWCP_v1:$bot",
        msgId,
        senderNick: fields.senderNick ?? "Tester",
        isAdmin: fields.isAdmin ?? false,
        ...(senderStaffId === null ? {} : { senderStaffId }),
        sessionWebhookExpiredTime: expiresAt,
        createAt: fields.createAt ?? now,
        senderCorpId: fields.senderCorpId ?? "ding-corp",
        senderId: fields.senderId ?? `$:LWCP_v1:$${senderStaffId ?? "outsider"}`,
        sessionWebhook: webhookFor(conversationId, expiresAt),
        robotCode: fields.robotCode ?? robotCode,
        msgtype,
        ...(msgtype === "text" ? { text: { content: text ?? "hello" } } : {}),
        ...(fields.content !== undefined ? { content: fields.content } : {}),
      })
      const pushedAt = performance.now()
      const sent = pushData(data, pushOptions.connectionId)
      return { frameId: sent.frameId, msgId, conversationId, pushedAt, connectionId: sent.connectionId, queued: sent.connectionId === undefined }
    },
    pushRaw: (data, pushOptions = {}) => pushData(data, pushOptions.connectionId).frameId,
    pushCardCallback: (click, pushOptions = {}) => {
      // As DingTalk's samples show it: `content` and `value` are JSON strings holding cardPrivateData.
      const privateData = JSON.stringify({ cardPrivateData: { actionIds: [click.actionId], params: click.params ?? {} } })
      const data = JSON.stringify({
        extension: "{}", corpId: "ding-corp", spaceType: click.spaceType ?? "", userIdType: 1, type: "actionCallback",
        userId: click.userId, outTrackId: click.outTrackId, spaceId: "", content: privateData, value: privateData,
      })
      return pushData(data, pushOptions.connectionId, CARD_TOPIC).frameId
    },
    pushFrame: (text, pushOptions = {}) => {
      const target = choose(pushOptions.connectionId)
      if (target === undefined) queue.push({ raw: text })
      else target.ws.send(text)
    },
    redeliver: (frameId) => {
      const data = frameData.get(frameId)
      if (data === undefined) throw new Error(`DingTalk emulator: unknown frame ${frameId}`)
      return { frameId: pushData(data, undefined).frameId }
    },
    get queuedPushes() {
      return queue.length
    },
    get acks() {
      return acks
    },
    isAcked: (frameId) => ackOf.has(frameId),
    waitForAck: (frameId, timeoutMs = 5_000) => waitFor(`the ack of ${frameId}`, () => ackOf.get(frameId), timeoutMs),
    get pongs() {
      return pongs
    },
    sendPing: async (connectionId, timeoutMs = 5_000) => {
      const connection = connectionOrThrow(connectionId)
      const pingId = randomUUID()
      sendPingFrame(connection, pingId)
      return waitFor(`the answer to ping ${pingId} on ${connection.id}`, () => (pongs.some((p) => p.pingId === pingId) ? true : undefined), timeoutMs)
        .then(() => undefined)
    },
    sendDisconnect: (connectionId) => {
      const connection = connectionOrThrow(connectionId)
      connection.ws.send(systemFrame("disconnect", JSON.stringify({ reason: "server maintenance" }), randomUUID(), connection.id))
      // Closing an already closed socket is a no-op, so a client that left first is fine.
      later(closeAfterMs, () => connection.ws.close(1001, "server disconnect"))
    },
    dropConnection: (connectionId) => {
      const connection = connectionOrThrow(connectionId)
      connections.delete(connection.id)
      connection.ws.terminate()
      notify()
    },
    freezeConnection: (connectionId) => {
      const connection = connectionOrThrow(connectionId)
      // Half-open: nothing is read (so no pongs, no acks) and nothing is sent, and no close ever comes.
      connections.delete(connection.id)
      const raw = (connection.ws as unknown as { _socket: Socket })._socket
      raw.pause()
      raw.removeAllListeners("data")
      frozen.push(raw)
      notify()
    },
    get replies() {
      return replies
    },
    repliesFor: (conversationId) => repliesByConversation.get(conversationId)?.slice() ?? [],
    waitForReplies: (count, { conversationId, timeoutMs = 5_000 } = {}) =>
      waitFor(`${count} repl${count === 1 ? "y" : "ies"}${conversationId === undefined ? "" : ` in ${conversationId}`}`, () => {
        const matching = conversationId === undefined ? replies : repliesByConversation.get(conversationId) ?? []
        return matching.length >= count ? matching.slice() : undefined
      }, timeoutMs),
    failWebhook: (errcode, times = 1, conversationId) => {
      webhookFailures.push({ errcode, left: times, conversationId })
    },
    expireWebhook: (conversationId) => {
      const token = webhookToken.get(conversationId)
      if (token !== undefined) webhookExpiry.set(token, 0)
    },
    get rateLimited() {
      return rateLimited
    },
    get webhookAttempts() {
      return webhookAttempts
    },
    get tokenCalls() {
      return tokenCalls
    },
    get httpConnections() {
      return httpConnections
    },
    get cards() {
      return cardApi.cards()
    },
    cardsFor: (conversationId) => cardApi.cards().filter((card) => card.conversationId === conversationId),
    get cardCalls() {
      return cardApi.calls()
    },
    waitForCards: (count, { conversationId, timeoutMs = 5_000 } = {}) =>
      waitFor(`${count} card(s)${conversationId === undefined ? "" : ` in ${conversationId}`}`, () => {
        const matching = cardApi.cards().filter((card) => conversationId === undefined || card.conversationId === conversationId)
        return matching.length >= count ? matching : undefined
      }, timeoutMs),
    waitForCardFinished: (outTrackId, timeoutMs = 5_000) =>
      waitFor(`card ${outTrackId} to finish`, () => {
        const card = cardApi.get(outTrackId)
        return card !== undefined && card.finalized && (card.flowStatus === "3" || card.flowStatus === "5") ? card : undefined
      }, timeoutMs),
    failCard: (failure) => cardApi.fail(failure),
    close: async () => {
      if (closed) return
      closed = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      for (const waiter of [...waiters]) waiter.fail(new Error("DingTalk emulator: closed while waiting"))
      for (const raw of frozen) raw.destroy()
      for (const connection of connections.values()) connection.ws.terminate()
      for (const client of wss.clients) client.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return emulator
}

/** The emulator as a scoped Effect resource: closed when the scope ends. */
export const DingTalkEmulatorScoped = (options?: DingTalkEmulatorOptions) =>
  Effect.acquireRelease(Effect.promise(() => startDingTalkEmulator(options)), (emulator) => Effect.promise(() => emulator.close()))
