import { assert, describe, it } from "@effect/vitest"
import { DWClient, type DWClientDownStream } from "dingtalk-stream"
import { Effect } from "effect"
import { WebSocket } from "ws"
import { type DingTalkEmulator, DingTalkEmulatorScoped, type DingTalkEmulatorOptions, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { cleanupAfterEach } from "../support/resources.js"
import { waitUntil } from "../support/waitUntil.js"

const onCleanup = cleanupAfterEach()
const ROBOT_TOPIC = "/v1.0/im/bot/messages/get"

/** The real SDK client, pointed at the emulator instead of api.dingtalk.com. */
class EmulatorClient extends DWClient {
  readonly frames: Array<DWClientDownStream> = []
  readonly system: Array<DWClientDownStream> = []

  constructor(private readonly emulator: DingTalkEmulator, options: { clientSecret?: string; ack?: boolean } = {}) {
    super({ clientId: emulator.clientId, clientSecret: options.clientSecret ?? emulator.clientSecret, keepAlive: false })
    // The SDK reconnects forever by default; a test wants exactly the connections it opens.
    Object.assign(this.config, { autoReconnect: false })
    this.registerCallbackListener(ROBOT_TOPIC, (frame) => {
      this.frames.push(frame)
      if (options.ack !== false) this.socketCallBackResponse(frame.headers.messageId, null)
    })
  }

  override async getEndpoint(): Promise<this> {
    const response = await fetch(`${this.emulator.url}/v1.0/gateway/connections/open`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ clientId: this.config.clientId, clientSecret: this.config.clientSecret, ua: "emulator-test", subscriptions: this.config.subscriptions }),
    })
    const body = await response.json()
    if (!response.ok) throw new Error(`gateway ${response.status} ${body.code}`)
    this.url = `${body.endpoint}?ticket=${body.ticket}`
    return this
  }

  override onSystem(downstream: DWClientDownStream): void {
    this.system.push(downstream)
    super.onSystem(downstream)
  }

  /** The SDK keeps these private in its typings. */
  get url(): string | undefined {
    return (this as unknown as { dw_url?: string }).dw_url
  }
  set url(value: string | undefined) {
    ;(this as unknown as { dw_url?: string | undefined }).dw_url = value
  }
  get ws(): WebSocket {
    return (this as unknown as { socket: WebSocket }).socket
  }

  /** Gateway + WebSocket, with errors surfaced (the SDK's `connect()` swallows them). */
  async open(): Promise<this> {
    await this.getEndpoint()
    await this._connect()
    return this
  }
}

const start = async (options?: DingTalkEmulatorOptions) => {
  const emulator = await startDingTalkEmulator(options)
  onCleanup(() => emulator.close())
  return emulator
}

const connect = async (emulator: DingTalkEmulator, options?: { ack?: boolean }) => {
  const client = new EmulatorClient(emulator, options)
  onCleanup(() => client.ws?.terminate())
  return client.open()
}

/** Resolves when `check` holds; the SDK client has no events of its own to wait on. */
const until = (what: string, check: () => boolean, timeoutMs = 2_000) => waitUntil(what, check, { timeoutMs, everyMs: 5 })

const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) })
  return { status: response.status, body: await response.json() as any }
}

const webhookOf = (client: EmulatorClient, index = -1): string => JSON.parse(client.frames.at(index)!.data).sessionWebhook

describe("DingTalkEmulator: Stream connection", () => {
  it("a pushed message reaches the real SDK client in the real frame shape and its ack is recorded", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    await emulator.waitForConnections(1)
    const [connection] = emulator.openConnections()
    assert.strictEqual(connection!.id, "conn-1")
    assert.strictEqual(emulator.gatewayCalls, 1)
    assert.deepInclude(emulator.lastSubscriptions as Array<unknown>, { type: "CALLBACK", topic: ROBOT_TOPIC })

    const pushed = emulator.pushMessage({ text: "hi there" })
    const ack = await emulator.waitForAck(pushed.frameId)
    assert.strictEqual(ack.connectionId, "conn-1")
    assert.strictEqual(ack.code, 200)
    assert.isTrue(emulator.isAcked(pushed.frameId))
    assert.isFalse(pushed.queued)
    assert.strictEqual(pushed.connectionId, "conn-1")

    const frame = client.frames[0]!
    assert.strictEqual(frame.specVersion, "1.0")
    assert.strictEqual(frame.type, "CALLBACK")
    assert.deepStrictEqual(Object.keys(frame.headers).sort(), ["appId", "connectionId", "contentType", "messageId", "time", "topic"])
    assert.strictEqual(frame.headers.messageId, pushed.frameId)
    assert.strictEqual(frame.headers.connectionId, "conn-1")
    assert.strictEqual(frame.headers.topic, ROBOT_TOPIC)
    assert.typeOf(frame.data, "string")
    const message = JSON.parse(frame.data)
    assert.include(message, {
      conversationId: "cid-test-1", conversationType: "1", msgId: pushed.msgId, msgtype: "text", senderNick: "Tester",
      senderStaffId: "staff-1", robotCode: emulator.robotCode, isAdmin: false,
    })
    assert.deepStrictEqual(message.text, { content: "hi there" })
    assert.match(message.sessionWebhook, new RegExp(`^${emulator.url}/robot/sendBySession\\?session=`))
    assert.approximately(message.sessionWebhookExpiredTime - message.createAt, 90 * 60_000, 1_000)
  })

  it("a group message carries the title, isInAtList and atUsers", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    const pushed = emulator.pushMessage({ conversationType: "2", conversationId: "cid-group", conversationTitle: "Team", text: " ask" })
    await emulator.waitForAck(pushed.frameId)
    const message = JSON.parse(client.frames[0]!.data)
    assert.include(message, { conversationType: "2", conversationTitle: "Team", isInAtList: true })
    assert.lengthOf(message.atUsers, 1)
    assert.deepStrictEqual(message.text, { content: " ask" })
  })

  it("wrong credentials get HTTP 401 InvalidAuthentication from the gateway", async () => {
    const emulator = await start()
    const client = new EmulatorClient(emulator, { clientSecret: "wrong" })
    const error = await client.getEndpoint().then(() => undefined, (e: Error) => e)
    assert.match(String(error), /gateway 401 InvalidAuthentication/)
    const raw = await post(`${emulator.url}/v1.0/gateway/connections/open`, { clientId: "nobody", clientSecret: emulator.clientSecret })
    assert.strictEqual(raw.status, 401)
    assert.strictEqual(raw.body.code, "InvalidAuthentication")
    assert.strictEqual(emulator.gatewayCalls, 2)
  })

  it("failGateway answers the given status for the next calls, then the gateway works again", async () => {
    const emulator = await start()
    emulator.failGateway(2, 502)
    const open = () => post(`${emulator.url}/v1.0/gateway/connections/open`, { clientId: emulator.clientId, clientSecret: emulator.clientSecret })
    assert.strictEqual((await open()).status, 502)
    assert.strictEqual((await open()).status, 502)
    const ok = await open()
    assert.strictEqual(ok.status, 200)
    assert.match(ok.body.endpoint, /^ws:\/\/127\.0\.0\.1:\d+\/connect$/)
    assert.strictEqual(emulator.gatewayCalls, 3)
  })

  it("a ticket is single-use: a second WebSocket with it is refused with 401", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    const reused = new WebSocket(client.url!)
    const status = await new Promise<number | undefined>((resolve) => {
      reused.on("unexpected-response", (_request, response) => resolve(response.statusCode))
      reused.on("open", () => resolve(undefined))
      reused.on("error", () => undefined)
    })
    reused.terminate()
    assert.strictEqual(status, 401)
    assert.strictEqual(emulator.refusedUpgrades, 1)
    assert.strictEqual(emulator.totalConnections, 1)
  })

  it("a push while no connection is open is queued and delivered when one opens", async () => {
    const emulator = await start()
    const pushed = emulator.pushMessage({ text: "early" })
    assert.isTrue(pushed.queued)
    assert.strictEqual(emulator.queuedPushes, 1)
    const client = await connect(emulator)
    await emulator.waitForAck(pushed.frameId)
    assert.strictEqual(emulator.queuedPushes, 0)
    assert.strictEqual(client.frames[0]!.headers.connectionId, "conn-1")
  })

  it("pushes go to one open connection; pick 'first' makes the choice deterministic", async () => {
    const emulator = await start({ pick: "first" })
    const first = await connect(emulator)
    const second = await connect(emulator)
    await emulator.waitForConnections(2)
    const pushes = [emulator.pushMessage(), emulator.pushMessage(), emulator.pushMessage({}, { connectionId: "conn-2" })]
    await Promise.all(pushes.map((p) => emulator.waitForAck(p.frameId)))
    assert.lengthOf(first.frames, 2)
    assert.lengthOf(second.frames, 1)
    assert.deepStrictEqual(emulator.acks.map((a) => a.connectionId).sort(), ["conn-1", "conn-1", "conn-2"])
    assert.throws(() => emulator.pushMessage({}, { connectionId: "conn-9" }), /conn-9 is not open/)
  })

  it("redeliver re-pushes the same data under a new frame ID", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    const pushed = emulator.pushMessage({ text: "twice" })
    await emulator.waitForAck(pushed.frameId)
    const again = emulator.redeliver(pushed.frameId)
    await emulator.waitForAck(again.frameId)
    assert.notStrictEqual(again.frameId, pushed.frameId)
    assert.strictEqual(client.frames[1]!.data, client.frames[0]!.data)
    assert.strictEqual(JSON.parse(client.frames[1]!.data).msgId, pushed.msgId)
  })

  it("redeliverAfterMs re-pushes an un-acked CALLBACK until it is acked", async () => {
    const emulator = await start({ redeliverAfterMs: 50 })
    const client = await connect(emulator, { ack: false })
    const pushed = emulator.pushMessage({ text: "ack me" })
    await until("a redelivery", () => client.frames.length >= 2)
    const [first, second] = client.frames
    assert.notStrictEqual(second!.headers.messageId, first!.headers.messageId)
    assert.strictEqual(JSON.parse(second!.data).msgId, pushed.msgId)
    client.socketCallBackResponse(second!.headers.messageId, null)
    await emulator.waitForAck(second!.headers.messageId)
    assert.isFalse(emulator.isAcked(pushed.frameId))
  })

  it("pushRaw sends arbitrary data in a CALLBACK and pushFrame sends arbitrary text", async () => {
    const emulator = await start()
    // A plain socket: the SDK would throw on a non-JSON frame.
    const opened = await post(`${emulator.url}/v1.0/gateway/connections/open`, { clientId: emulator.clientId, clientSecret: emulator.clientSecret })
    const ws = new WebSocket(`${opened.body.endpoint}?ticket=${opened.body.ticket}`)
    onCleanup(() => ws.terminate())
    const received: Array<string> = []
    ws.on("message", (data) => received.push(String(data)))
    await emulator.waitForConnections(1)
    const frameId = emulator.pushRaw("{not json")
    emulator.pushFrame("this is not a frame")
    await until("two frames", () => received.length === 2)
    const frame = JSON.parse(received[0]!)
    assert.strictEqual(frame.headers.messageId, frameId)
    assert.strictEqual(frame.data, "{not json")
    assert.strictEqual(received[1], "this is not a frame")
  })

  it("a SYSTEM ping is answered by the SDK and recorded as a pong, not as an ack", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    await emulator.sendPing()
    assert.lengthOf(emulator.pongs, 1)
    assert.strictEqual(emulator.pongs[0]!.connectionId, "conn-1")
    assert.lengthOf(emulator.acks, 0)
    const ping = client.system[0]!
    assert.strictEqual(ping.type, "SYSTEM")
    assert.strictEqual(ping.headers.topic, "ping")
    assert.strictEqual(JSON.parse(ping.data).opaque, ping.headers.messageId)
  })

  it("pingIntervalMs pings every open connection", async () => {
    const emulator = await start({ pingIntervalMs: 20 })
    await connect(emulator)
    await until("three pongs", () => emulator.pongs.length >= 3)
    assert.lengthOf(emulator.acks, 0)
  })

  it("a disconnect notice arrives at once and the socket closes disconnectCloseAfterMs later", async () => {
    const emulator = await start({ disconnectCloseAfterMs: 150 })
    const client = await connect(emulator)
    const closed = new Promise<number>((resolve) => client.ws.on("close", (code) => resolve(code)))
    const sentAt = Date.now()
    emulator.sendDisconnect("conn-1")
    await until("the notice", () => client.system.some((f) => f.headers.topic === "disconnect"))
    assert.isFalse(client.connected)
    // Still usable in the grace period: a push meanwhile is delivered and acked.
    const pushed = emulator.pushMessage({ text: "in the gap" })
    await emulator.waitForAck(pushed.frameId)
    assert.strictEqual(await closed, 1001)
    assert.isAtLeast(Date.now() - sentAt, 140)
    assert.lengthOf(emulator.openConnections(), 0)
  })

  it("dropConnection closes the client's socket and waitForNewConnection sees the replacement", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    const closed = new Promise<void>((resolve) => client.ws.on("close", () => resolve()))
    emulator.dropConnection()
    await closed
    assert.lengthOf(emulator.openConnections(), 0)
    const total = emulator.totalConnections
    const replacement = connect(emulator)
    await emulator.waitForNewConnection(total)
    await replacement
    assert.deepStrictEqual(emulator.openConnections().map((c) => c.id), ["conn-2"])
  })

  it("a frozen connection stays open on the client but is silent: no pushes, no pongs, no close", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    emulator.freezeConnection()
    assert.lengthOf(emulator.openConnections(), 0)
    const pushed = emulator.pushMessage({ text: "lost in the void" })
    assert.isTrue(pushed.queued)
    let pongs = 0
    client.ws.on("pong", () => pongs++)
    client.ws.ping()
    client.socketCallBackResponse("frame-that-nobody-reads", null)
    // Proving silence needs a pause; 200 ms is far above a loopback round trip.
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.strictEqual(client.ws.readyState, WebSocket.OPEN)
    assert.strictEqual(pongs, 0)
    assert.lengthOf(client.frames, 0)
    assert.lengthOf(emulator.acks, 0)
  })

  it("waits reject with a message that says what was awaited", async () => {
    const emulator = await start()
    const error = await emulator.waitForConnections(1, 30).then(() => undefined, (e: Error) => e.message)
    assert.match(String(error), /timed out after 30 ms waiting for 1 open connection/)
    assert.match(await emulator.sendPing().then(() => "", (e: Error) => e.message), /no open connection/)
  })

  it("close() does not hang with open, frozen and keep-alive sockets", async () => {
    const emulator = await startDingTalkEmulator()
    const client = await connect(emulator)
    await connect(emulator)
    emulator.freezeConnection("conn-1")
    await post(`${emulator.url}/v1.0/oauth2/accessToken`, { appKey: emulator.clientId, appSecret: emulator.clientSecret })
    const waiting = emulator.waitForReplies(1, { timeoutMs: 60_000 }).then(() => "resolved", (e: Error) => e.message)
    const startedAt = Date.now()
    await emulator.close()
    await emulator.close()
    assert.isBelow(Date.now() - startedAt, 1_000)
    assert.match(await waiting, /closed while waiting/)
    await until("the client socket to close", () => client.ws.readyState === WebSocket.CLOSED)
  })

  it.live("DingTalkEmulatorScoped closes the emulator when its scope ends", () =>
    Effect.gen(function*() {
      const url = yield* Effect.scoped(Effect.map(DingTalkEmulatorScoped({ clientId: "ding-scoped" }), (emulator) => {
        assert.strictEqual(emulator.robotCode, "ding-scoped")
        return emulator.url
      }))
      const error = yield* Effect.promise(() => fetch(`${url}/v1.0/oauth2/accessToken`, { method: "POST" }).then(() => undefined, (e: Error) => e))
      assert.instanceOf(error, Error)
    }))
})

describe("DingTalkEmulator: replies", () => {
  it("a webhook reply is recorded with conversation, msgtype, text, title and byte length", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    await emulator.waitForAck(emulator.pushMessage({ conversationId: "cid-a" }).frameId)
    const body = { msgtype: "markdown", markdown: { title: "Answer", text: "# Hi\n\n你好" } }
    const answer = await post(webhookOf(client), body)
    assert.deepStrictEqual(answer, { status: 200, body: { errcode: 0, errmsg: "ok" } })
    await post(webhookOf(client), { msgtype: "text", text: { content: "plain" } })
    const replies = await emulator.waitForReplies(2, { conversationId: "cid-a" })
    assert.include(replies[0]!, { route: "webhook", conversationId: "cid-a", msgtype: "markdown", text: "# Hi\n\n你好", title: "Answer" })
    assert.strictEqual(replies[0]!.bytes, Buffer.byteLength(JSON.stringify(body)))
    assert.deepStrictEqual(replies[0]!.body, body)
    assert.include(replies[1]!, { msgtype: "text", text: "plain", title: undefined })
    assert.lengthOf(emulator.repliesFor("cid-other"), 0)
    assert.strictEqual(emulator.webhookAttempts, 2)
  })

  it("an injected 130101 is answered once, counted as an attempt and not recorded", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    await emulator.waitForAck(emulator.pushMessage({ conversationId: "cid-b" }).frameId)
    emulator.failWebhook(130101, 1, "cid-b")
    const reply = { msgtype: "text", text: { content: "x" } }
    assert.deepStrictEqual((await post(webhookOf(client), reply)).body, { errcode: 130101, errmsg: "injected failure" })
    assert.lengthOf(emulator.replies, 0)
    assert.strictEqual((await post(webhookOf(client), reply)).body.errcode, 0)
    assert.lengthOf(emulator.replies, 1)
    assert.strictEqual(emulator.webhookAttempts, 2)
  })

  it("a body over 20 000 bytes answers 460101", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    await emulator.waitForAck(emulator.pushMessage().frameId)
    const answer = await post(webhookOf(client), { msgtype: "text", text: { content: "字".repeat(7_000) } })
    assert.strictEqual(answer.body.errcode, 460101)
    assert.lengthOf(emulator.replies, 0)
  })

  it("an expired webhook answers 300001, and the next push brings a fresh one", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    await emulator.waitForAck(emulator.pushMessage({ conversationId: "cid-c" }).frameId)
    const old = webhookOf(client)
    emulator.expireWebhook("cid-c")
    assert.strictEqual((await post(old, { msgtype: "text", text: { content: "late" } })).body.errcode, 300001)
    await emulator.waitForAck(emulator.pushMessage({ conversationId: "cid-c" }).frameId)
    const fresh = webhookOf(client)
    assert.notStrictEqual(fresh, old)
    assert.strictEqual((await post(fresh, { msgtype: "text", text: { content: "on time" } })).body.errcode, 0)
    assert.strictEqual((await post(old, { msgtype: "text", text: { content: "still late" } })).body.errcode, 300001)
    assert.deepStrictEqual(emulator.replies.map((r) => r.text), ["on time"])
  })

  it("a webhook past its sessionWebhookExpiredTime answers 300001", async () => {
    const emulator = await start({ webhookTtlMs: -1 })
    const client = await connect(emulator)
    await emulator.waitForAck(emulator.pushMessage().frameId)
    assert.strictEqual((await post(webhookOf(client), { msgtype: "text", text: { content: "x" } })).body.errcode, 300001)
  })

  it("the OpenAPI issues tokens and records 1:1 and group sends", async () => {
    const emulator = await start({ tokenTtlSeconds: 60 })
    await connect(emulator)
    await emulator.waitForAck(emulator.pushMessage({ conversationId: "cid-dm", senderStaffId: "staff-9" }).frameId)
    assert.deepStrictEqual(
      await post(`${emulator.url}/v1.0/oauth2/accessToken`, { appKey: emulator.clientId, appSecret: "wrong" }).then((r) => [r.status, r.body.code]),
      [400, "invalidClientIdOrSecret"]
    )
    const token = await post(`${emulator.url}/v1.0/oauth2/accessToken`, { appKey: emulator.clientId, appSecret: emulator.clientSecret })
    assert.strictEqual(token.body.expireIn, 60)
    assert.strictEqual(emulator.tokenCalls, 2)
    const auth = { "x-acs-dingtalk-access-token": token.body.accessToken }

    const o2o = await post(`${emulator.url}/v1.0/robot/oToMessages/batchSend`, {
      robotCode: emulator.robotCode, userIds: ["staff-9"], msgKey: "sampleMarkdown", msgParam: JSON.stringify({ title: "T", text: "**late**" }),
    }, auth)
    assert.strictEqual(o2o.status, 200)
    assert.typeOf(o2o.body.processQueryKey, "string")
    const group = await post(`${emulator.url}/v1.0/robot/groupMessages/send`, {
      robotCode: emulator.robotCode, openConversationId: "cid-g", msgKey: "sampleText", msgParam: JSON.stringify({ content: "hello group" }),
    }, auth)
    assert.strictEqual(group.status, 200)
    assert.deepStrictEqual(emulator.replies.map((r) => [r.route, r.conversationId, r.msgtype, r.text, r.title]), [
      ["openapi-o2o", "cid-dm", "markdown", "**late**", "T"],
      ["openapi-group", "cid-g", "text", "hello group", undefined],
    ])

    const send = { robotCode: emulator.robotCode, openConversationId: "cid-g", msgKey: "sampleText", msgParam: "{}" }
    assert.strictEqual((await post(`${emulator.url}/v1.0/robot/groupMessages/send`, send)).status, 401)
    assert.strictEqual((await post(`${emulator.url}/v1.0/robot/groupMessages/send`, send, { "x-acs-dingtalk-access-token": "forged" })).body.code, "InvalidAuthentication")
    assert.strictEqual((await post(`${emulator.url}/v1.0/robot/groupMessages/send`, { ...send, robotCode: "other" }, auth)).status, 400)
    assert.lengthOf(emulator.replies, 2)
  })

  it("enforceRateLimit refuses a send over the limit in a sliding window (130101 / HTTP 429) and counts it", async () => {
    const emulator = await start({ enforceRateLimit: { limit: 2, windowMs: 400 } })
    const client = await connect(emulator)
    await emulator.waitForAck(emulator.pushMessage({ conversationId: "cid-r", senderStaffId: "staff-r" }).frameId)
    const reply = { msgtype: "text", text: { content: "x" } }
    assert.strictEqual((await post(webhookOf(client), reply)).body.errcode, 0)
    await new Promise((resolve) => setTimeout(resolve, 250))
    assert.strictEqual((await post(webhookOf(client), reply)).body.errcode, 0)
    // 250 ms after the first send: a fixed window that restarted would let this one through.
    assert.deepStrictEqual((await post(webhookOf(client), reply)).body, { errcode: 130101, errmsg: "send too fast" })
    const token = await post(`${emulator.url}/v1.0/oauth2/accessToken`, { appKey: emulator.clientId, appSecret: emulator.clientSecret })
    const openApi = () => post(`${emulator.url}/v1.0/robot/oToMessages/batchSend`, {
      robotCode: emulator.robotCode, userIds: ["staff-r"], msgKey: "sampleText", msgParam: JSON.stringify({ content: "y" }),
    }, { "x-acs-dingtalk-access-token": token.body.accessToken })
    assert.strictEqual((await openApi()).status, 429)
    assert.strictEqual(emulator.rateLimited, 2)
    assert.lengthOf(emulator.replies, 2)
    await new Promise((resolve) => setTimeout(resolve, 200)) // the first send has left the window
    assert.strictEqual((await openApi()).status, 200)
    assert.lengthOf(emulator.replies, 3)
  })

  it("httpConnections counts TCP connections, so keep-alive reuse is visible", async () => {
    const emulator = await start()
    const client = await connect(emulator)
    await emulator.waitForAck(emulator.pushMessage().frameId)
    const before = emulator.httpConnections
    // Sequential requests on fetch's keep-alive pool reuse one socket.
    for (let i = 0; i < 10; i++) await post(webhookOf(client), { msgtype: "text", text: { content: `r${i}` } })
    await emulator.waitForReplies(10)
    assert.isAtMost(emulator.httpConnections - before, 1)
    assert.isAtLeast(emulator.httpConnections, 1)
  })
})
