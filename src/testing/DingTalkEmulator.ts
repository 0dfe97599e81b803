/**
 * A DingTalk emulator that speaks the real Stream-mode protocol on 127.0.0.1: gateway open with a
 * credentials check and single-use tickets, the WebSocket with CALLBACK / SYSTEM frames and ack
 * tracking, `sessionWebhook` endpoints that record replies, and the token + robot OpenAPI.
 * Failures can be injected (gateway errors, dropped / frozen / disconnecting sockets, 130101, 300001).
 */
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import http from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { WebSocket, WebSocketServer } from "ws"

/** Options of the emulator; every one has a default. */
export interface DingTalkEmulatorOptions {
  readonly clientId?: string
  readonly clientSecret?: string
  /** Default: the client ID. */
  readonly robotCode?: string
  /** Interval of server SYSTEM pings to every connection; 0 = none. */
  readonly pingIntervalMs?: number
  /** Re-push an un-acked CALLBACK (new frame ID, same data) after this; 0 = never. */
  readonly redeliverAfterMs?: number
  /** `sessionWebhookExpiredTime` = push time + this. */
  readonly webhookTtlMs?: number
  readonly tokenTtlSeconds?: number
  /** After a SYSTEM disconnect notice the server closes that socket this much later. */
  readonly disconnectCloseAfterMs?: number
  /** Which open connection a push goes to (DingTalk picks at random). */
  readonly pick?: "random" | "first" | "last"
}

/** The robot message fields a test may set. */
export interface RobotMessageFields {
  conversationId: string
  conversationType: "1" | "2"
  conversationTitle: string
  msgId: string
  msgtype: string
  senderNick: string
  senderId: string
  senderStaffId: string
  chatbotUserId: string
  isInAtList: boolean
  atUsers: ReadonlyArray<{ dingtalkId: string; staffId?: string }>
  content: unknown
  sessionWebhookExpiredTime: number
}

/** A reply the emulator received, in arrival order. */
export interface RecordedReply {
  readonly route: "webhook" | "openapi-o2o" | "openapi-group"
  readonly conversationId: string
  readonly msgtype: string
  readonly text: string
  readonly title: string | undefined
  readonly body: any
  readonly bytes: number
  readonly at: number
}

/** An ack received from the client. */
export interface RecordedAck {
  readonly frameId: string
  readonly connectionId: string
  readonly at: number
}

/** A pushed robot message. */
export interface Pushed {
  readonly frameId: string
  readonly msgId: string
  readonly conversationId: string
  /** `performance.now()` when the frame was written to the socket (or queued). */
  readonly pushedAt: number
}

interface Connection {
  readonly id: string
  readonly ws: WebSocket
  readonly openedAt: number
}

/** The running emulator and its controls. */
export interface DingTalkEmulator {
  readonly url: string
  readonly clientId: string
  readonly clientSecret: string
  readonly robotCode: string
  openConnections(): ReadonlyArray<{ readonly id: string; readonly openedAt: number }>
  readonly totalConnections: number
  waitForConnections(n: number, timeoutMs?: number): Promise<void>
  /** Resolves when the connection count ever opened exceeds `afterTotal`. */
  waitForNewConnection(afterTotal: number, timeoutMs?: number): Promise<void>
  readonly gatewayCalls: number
  failGateway(times: number, status?: number): void
  readonly lastSubscriptions: unknown
  pushMessage(message?: Partial<RobotMessageFields> & { text?: string }, options?: { connectionId?: string }): Pushed
  pushRaw(data: string, options?: { connectionId?: string }): string
  pushFrame(text: string, options?: { connectionId?: string }): void
  redeliver(frameId: string): { frameId: string }
  readonly acks: ReadonlyArray<RecordedAck>
  isAcked(frameId: string): boolean
  waitForAck(frameId: string, timeoutMs?: number): Promise<RecordedAck>
  sendPing(connectionId?: string): Promise<void>
  sendDisconnect(connectionId?: string): void
  dropConnection(connectionId?: string): void
  freezeConnection(connectionId?: string): void
  readonly replies: ReadonlyArray<RecordedReply>
  repliesFor(conversationId: string): ReadonlyArray<RecordedReply>
  waitForReplies(count: number, options?: { conversationId?: string; timeoutMs?: number }): Promise<ReadonlyArray<RecordedReply>>
  failWebhook(errcode: number, times?: number, conversationId?: string): void
  expireWebhook(conversationId: string): void
  readonly webhookAttempts: number
  readonly tokenCalls: number
  /** TCP connections accepted for plain HTTP (WebSocket upgrades not counted). */
  readonly httpConnections: number
  close(): Promise<void>
}

const ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
const MAX_BODY_BYTES = 20_000

/** Polls `check` every 10 ms until it returns a value, or rejects with `what` after the timeout. */
const waitUntil = <A>(what: string, check: () => A | undefined, timeoutMs: number): Promise<A> =>
  new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs
    const tick = () => {
      const value = check()
      if (value !== undefined) return resolve(value)
      if (Date.now() > deadline) return reject(new Error(`DingTalk emulator: timed out after ${timeoutMs} ms waiting for ${what}`))
      setTimeout(tick, 10)
    }
    tick()
  })

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

/** Starts an emulator on 127.0.0.1 with a free port. */
export const startDingTalkEmulator = async (options: DingTalkEmulatorOptions = {}): Promise<DingTalkEmulator> => {
  const clientId = options.clientId ?? "ding-test-client"
  const clientSecret = options.clientSecret ?? "test-secret"
  const robotCode = options.robotCode ?? clientId
  const webhookTtlMs = options.webhookTtlMs ?? 90 * 60_000
  const closeAfterMs = options.disconnectCloseAfterMs ?? 10_000
  const pick = options.pick ?? "random"

  const tickets = new Set<string>()
  const connections = new Map<string, Connection>()
  const sessionTokens = new Map<string, string>() // token → conversation
  const tokenOf = new Map<string, string>() // conversation → token
  const webhookExpiry = new Map<string, number>() // token → epoch ms
  const expired = new Set<string>()
  const staffConversation = new Map<string, string>() // staff ID → 1:1 conversation
  const accessTokens = new Set<string>()
  const webhookFailures: Array<{ errcode: number; left: number; conversationId: string | undefined }> = []
  const pendingPushes: Array<{ frame: string; connectionId: string | undefined }> = []
  const frames = new Map<string, string>() // frame ID → data, for redelivery
  const pingWaiters = new Map<string, () => void>()
  const timers = new Set<NodeJS.Timeout>()
  const acks: Array<RecordedAck> = []
  const frozen: Array<Socket> = []
  const replies: Array<RecordedReply> = []
  let gatewayFailures: { times: number; status: number } = { times: 0, status: 503 }
  let connectionCounter = 0
  let frameCounter = 0
  let msgCounter = 0
  let gatewayCalls = 0
  let webhookAttempts = 0
  let tokenCalls = 0
  let httpConnections = 0
  let lastSubscriptions: unknown = undefined
  let url = ""

  const later = (ms: number, f: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      f()
    }, ms)
    timers.add(timer)
  }

  const choose = (connectionId: string | undefined): Connection | undefined => {
    if (connectionId !== undefined) return connections.get(connectionId)
    const open = [...connections.values()].filter((c) => c.ws.readyState === WebSocket.OPEN)
    if (open.length === 0) return undefined
    if (pick === "first") return open[0]
    if (pick === "last") return open[open.length - 1]
    return open[Math.floor(Math.random() * open.length)]
  }

  const send = (text: string, connectionId: string | undefined) => {
    const connection = choose(connectionId)
    if (connection === undefined || connection.ws.readyState !== WebSocket.OPEN) {
      // The real server holds pushes until a connection is there.
      pendingPushes.push({ frame: text, connectionId: undefined })
      return
    }
    connection.ws.send(text)
  }

  const callbackFrame = (frameId: string, data: string, connectionId: string) =>
    JSON.stringify({
      specVersion: "1.0",
      type: "CALLBACK",
      headers: { appId: clientId, connectionId, contentType: "application/json", messageId: frameId, time: String(Date.now()), topic: ROBOT_TOPIC },
      data,
    })

  const pushData = (data: string, connectionId: string | undefined): string => {
    const frameId = `frame-${++frameCounter}-${randomUUID().slice(0, 8)}`
    frames.set(frameId, data)
    const target = choose(connectionId)
    send(callbackFrame(frameId, data, target?.id ?? "pending"), target?.id)
    if ((options.redeliverAfterMs ?? 0) > 0) {
      later(options.redeliverAfterMs!, () => {
        if (!acks.some((ack) => ack.frameId === frameId)) pushData(data, undefined)
      })
    }
    return frameId
  }

  const systemFrame = (topic: string, data: string, messageId: string) =>
    JSON.stringify({ specVersion: "1.0", type: "SYSTEM", headers: { contentType: "application/json", messageId, time: String(Date.now()), topic }, data })

  const webhookFor = (conversationId: string, expiresAt: number) => {
    let token = tokenOf.get(conversationId)
    if (token === undefined) {
      token = randomUUID()
      tokenOf.set(conversationId, token)
      sessionTokens.set(token, conversationId)
    }
    webhookExpiry.set(token, expiresAt)
    return `${url}/robot/sendBySession?session=${token}`
  }

  const json = (response: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body)
    response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
    response.end(text)
  }

  const textOf = (body: any): { msgtype: string; text: string; title: string | undefined } => {
    if (body?.msgtype === "markdown") return { msgtype: "markdown", text: String(body.markdown?.text ?? ""), title: body.markdown?.title }
    if (body?.msgtype === "text") return { msgtype: "text", text: String(body.text?.content ?? ""), title: undefined }
    return { msgtype: String(body?.msgtype), text: JSON.stringify(body), title: undefined }
  }

  const handleWebhook = (requestUrl: URL, raw: string, response: http.ServerResponse) => {
    webhookAttempts++
    const token = requestUrl.searchParams.get("session") ?? ""
    const conversationId = sessionTokens.get(token)
    if (conversationId === undefined || expired.has(conversationId) || (webhookExpiry.get(token) ?? 0) < Date.now()) {
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
    if (body === undefined) return json(response, 200, { errcode: 400001, errmsg: "invalid json" })
    replies.push({ route: "webhook", conversationId, ...textOf(body), body, bytes, at: performance.now() })
    json(response, 200, { errcode: 0, errmsg: "ok" })
  }

  const handleOpenApi = (path: string, request: http.IncomingMessage, raw: string, response: http.ServerResponse) => {
    const token = request.headers["x-acs-dingtalk-access-token"]
    if (typeof token !== "string" || !accessTokens.has(token)) return json(response, 401, { code: "InvalidAuthentication", message: "access token is invalid" })
    const body = parse(raw)
    if (body?.robotCode !== robotCode) return json(response, 400, { code: "invalidParameter.robotCode", message: `unknown robotCode ${body?.robotCode}` })
    const param = parse(String(body.msgParam ?? ""))
    const bytes = Buffer.byteLength(raw)
    const markdown = body.msgKey === "sampleMarkdown"
    const common = { msgtype: markdown ? "markdown" : "text", text: String(markdown ? param?.text : param?.content), title: markdown ? param?.title : undefined, body, bytes, at: performance.now() }
    if (path.endsWith("/oToMessages/batchSend")) {
      const staffId = String(body.userIds?.[0])
      replies.push({ route: "openapi-o2o", conversationId: staffConversation.get(staffId) ?? `user:${staffId}`, ...common })
    } else {
      replies.push({ route: "openapi-group", conversationId: String(body.openConversationId), ...common })
    }
    json(response, 200, { processQueryKey: randomUUID() })
  }

  const server = http.createServer((request, response) => {
    void readBody(request).then((raw) => {
      const requestUrl = new URL(request.url ?? "/", url)
      const path = requestUrl.pathname
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
        const accessToken = randomUUID()
        accessTokens.add(accessToken)
        return json(response, 200, { accessToken, expireIn: options.tokenTtlSeconds ?? 7200 })
      }
      if (path === "/v1.0/robot/oToMessages/batchSend" || path === "/v1.0/robot/groupMessages/send") return handleOpenApi(path, request, raw, response)
      json(response, 404, { code: "NotFound", message: path })
    })
  })
  server.on("connection", (socket: Socket) => {
    // Upgrades are subtracted in the upgrade handler.
    httpConnections++
    socket.setNoDelay(true)
  })

  const wss = new WebSocketServer({ noServer: true })
  server.on("upgrade", (request, socket, head) => {
    httpConnections--
    const ticket = new URL(request.url ?? "/", url).searchParams.get("ticket") ?? ""
    if (!tickets.delete(ticket)) {
      socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n")
      return
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const id = `conn-${++connectionCounter}`
      connections.set(id, { id, ws, openedAt: Date.now() })
      ws.on("message", (data) => {
        const message = parse(String(data))
        const messageId = message?.headers?.messageId
        if (typeof messageId !== "string") return
        const waiter = pingWaiters.get(messageId)
        if (waiter !== undefined) {
          pingWaiters.delete(messageId)
          return waiter()
        }
        acks.push({ frameId: messageId, connectionId: id, at: performance.now() })
      })
      ws.on("close", () => connections.delete(id))
      ws.on("error", () => connections.delete(id))
      for (const pending of pendingPushes.splice(0)) ws.send(pending.frame)
    })
  })

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  if ((options.pingIntervalMs ?? 0) > 0) {
    const interval = setInterval(() => {
      for (const connection of connections.values()) {
        if (connection.ws.readyState === WebSocket.OPEN) connection.ws.send(systemFrame("ping", JSON.stringify({ opaque: randomUUID() }), randomUUID()))
      }
    }, options.pingIntervalMs)
    timers.add(interval as unknown as NodeJS.Timeout)
  }

  const connectionOrThrow = (connectionId: string | undefined) => {
    const connection = connectionId === undefined ? [...connections.values()].at(-1) : connections.get(connectionId)
    if (connection === undefined) throw new Error(`DingTalk emulator: no open connection${connectionId === undefined ? "" : ` ${connectionId}`}`)
    return connection
  }

  const emulator: DingTalkEmulator = {
    get url() {
      return url
    },
    clientId,
    clientSecret,
    robotCode,
    openConnections: () => [...connections.values()].map(({ id, openedAt }) => ({ id, openedAt })),
    get totalConnections() {
      return connectionCounter
    },
    waitForConnections: (n, timeoutMs = 5_000) =>
      waitUntil(`${n} open connection(s)`, () => (connections.size >= n ? true : undefined), timeoutMs).then(() => undefined),
    waitForNewConnection: (afterTotal, timeoutMs = 5_000) =>
      waitUntil(`a connection after #${afterTotal}`, () => (connectionCounter > afterTotal && connections.size > 0 ? true : undefined), timeoutMs).then(() => undefined),
    get gatewayCalls() {
      return gatewayCalls
    },
    failGateway: (times, status = 503) => {
      gatewayFailures = { times, status }
    },
    get lastSubscriptions() {
      return lastSubscriptions
    },
    pushMessage: (message = {}, pushOptions = {}) => {
      const { text, ...fields } = message
      const conversationId = fields.conversationId ?? "cid-test-1"
      const conversationType = fields.conversationType ?? "1"
      const senderStaffId = fields.senderStaffId ?? "staff-1"
      const msgId = fields.msgId ?? `msg-${++msgCounter}-${randomUUID().slice(0, 8)}`
      const now = Date.now()
      const expiresAt = fields.sessionWebhookExpiredTime ?? now + webhookTtlMs
      if (conversationType === "1") staffConversation.set(senderStaffId, conversationId)
      const msgtype = fields.msgtype ?? "text"
      const data = JSON.stringify({
        conversationId,
        conversationType,
        ...(conversationType === "2"
          ? { conversationTitle: fields.conversationTitle ?? "Test group", isInAtList: fields.isInAtList ?? true, atUsers: fields.atUsers ?? [{ dingtalkId: "$:bot" }] }
          : {}),
        chatbotCorpId: "ding-corp",
        chatbotUserId: fields.chatbotUserId ?? "$:bot",
        msgId,
        senderNick: fields.senderNick ?? "Tester",
        isAdmin: false,
        senderStaffId,
        sessionWebhookExpiredTime: expiresAt,
        createAt: now,
        senderCorpId: "ding-corp",
        senderId: fields.senderId ?? `$:LWCP_v1:$${senderStaffId}`,
        sessionWebhook: webhookFor(conversationId, expiresAt),
        robotCode,
        msgtype,
        ...(msgtype === "text" ? { text: { content: text ?? "hello" } } : {}),
        ...(fields.content !== undefined ? { content: fields.content } : {}),
      })
      const pushedAt = performance.now()
      const frameId = pushData(data, pushOptions.connectionId)
      return { frameId, msgId, conversationId, pushedAt }
    },
    pushRaw: (data, pushOptions = {}) => pushData(data, pushOptions.connectionId),
    pushFrame: (text, pushOptions = {}) => send(text, pushOptions.connectionId),
    redeliver: (frameId) => {
      const data = frames.get(frameId)
      if (data === undefined) throw new Error(`DingTalk emulator: unknown frame ${frameId}`)
      return { frameId: pushData(data, undefined) }
    },
    get acks() {
      return acks
    },
    isAcked: (frameId) => acks.some((ack) => ack.frameId === frameId),
    waitForAck: (frameId, timeoutMs = 5_000) => waitUntil(`the ack of ${frameId}`, () => acks.find((ack) => ack.frameId === frameId), timeoutMs),
    sendPing: (connectionId) => {
      const connection = connectionOrThrow(connectionId)
      const messageId = randomUUID()
      return new Promise((resolve) => {
        pingWaiters.set(messageId, resolve)
        connection.ws.send(systemFrame("ping", JSON.stringify({ opaque: messageId }), messageId))
      })
    },
    sendDisconnect: (connectionId) => {
      const connection = connectionOrThrow(connectionId)
      connection.ws.send(systemFrame("disconnect", JSON.stringify({ reason: "server maintenance" }), randomUUID()))
      later(closeAfterMs, () => connection.ws.close(1001, "server disconnect"))
    },
    dropConnection: (connectionId) => {
      const connection = connectionOrThrow(connectionId)
      connections.delete(connection.id)
      connection.ws.terminate()
    },
    freezeConnection: (connectionId) => {
      const connection = connectionOrThrow(connectionId)
      // Half-open: nothing is read (so no pongs) and nothing is sent, and no close ever comes.
      connections.delete(connection.id)
      const raw = (connection.ws as unknown as { _socket: Socket })._socket
      raw.pause()
      raw.removeAllListeners("data")
      frozen.push(raw)
    },
    get replies() {
      return replies
    },
    repliesFor: (conversationId) => replies.filter((reply) => reply.conversationId === conversationId),
    waitForReplies: (count, { conversationId, timeoutMs = 5_000 } = {}) =>
      waitUntil(`${count} repl${count === 1 ? "y" : "ies"}${conversationId === undefined ? "" : ` in ${conversationId}`}`, () => {
        const matching = conversationId === undefined ? replies : replies.filter((reply) => reply.conversationId === conversationId)
        return matching.length >= count ? matching.slice() : undefined
      }, timeoutMs),
    failWebhook: (errcode, times = 1, conversationId) => {
      webhookFailures.push({ errcode, left: times, conversationId })
    },
    expireWebhook: (conversationId) => {
      expired.add(conversationId)
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
    close: async () => {
      for (const timer of timers) clearInterval(timer)
      timers.clear()
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
