import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, PubSub, References, Stream } from "effect"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { decodeEvent, OpenCodeEvents, sessionIdOf } from "../../src/opencode/OpenCodeEvents.js"

/** A minimal `GET /event` server: what it sends, when it drops, which headers it saw. */
const sseServer = Effect.acquireRelease(
  Effect.promise(async () => {
    const open = new Set<http.ServerResponse>()
    const authorizations: Array<string | undefined> = []
    let connections = 0
    const server = http.createServer((request, response) => {
      if (request.url !== "/event") {
        response.writeHead(404)
        return response.end()
      }
      connections++
      authorizations.push(request.headers.authorization)
      response.writeHead(200, { "content-type": "text/event-stream" })
      response.write(`data: ${JSON.stringify({ type: "server.connected", properties: {} })}\n\n`)
      open.add(response)
      response.on("close", () => open.delete(response))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      get connections() {
        return connections
      },
      get open() {
        return open.size
      },
      authorizations,
      sendRaw: (text: string) => {
        for (const response of open) response.write(text)
      },
      send: (event: unknown) => {
        for (const response of open) response.write(`data: ${JSON.stringify(event)}\n\n`)
      },
      drop: () => {
        for (const response of open) response.destroy()
      },
      close: () => new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
    }
  }),
  (server) => Effect.promise(() => server.close())
)

const eventsLayer = (url: string, extra: Record<string, string> = {}) =>
  OpenCodeEvents.layer.pipe(
    Layer.provide(BridgeConfig.layerFrom({ DINGTALK_CLIENT_ID: "x", DINGTALK_CLIENT_SECRET: "y", OPENCODE_SERVER_URL: url, ...extra })),
    // The reconnect warnings are expected here.
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "None"))
  )

const waitUntil = (check: () => boolean) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 5_000
    while (!check()) {
      if (Date.now() > deadline) throw new Error("timed out")
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })

const delta = (sessionID: string, text: string) => ({
  type: "message.part.delta",
  properties: { sessionID, messageID: "msg_1", partID: "prt_1", field: "text", delta: text },
})

describe("OpenCodeEvents", () => {
  it("decodes the events the bridge uses, keeps others by name, and finds their session", () => {
    const part = decodeEvent({ type: "message.part.updated", properties: { part: { id: "p", sessionID: "ses_a", messageID: "m", type: "text", text: "hi" } } })
    assert.strictEqual(part?.type, "message.part.updated")
    assert.strictEqual(part && sessionIdOf(part), "ses_a")
    const info = decodeEvent({ type: "message.updated", properties: { info: { id: "m", sessionID: "ses_b", role: "assistant" } } })
    assert.strictEqual(info && sessionIdOf(info), "ses_b")
    const other = decodeEvent({ type: "todo.updated", properties: { sessionID: "ses_c", todos: [] } })
    assert.deepStrictEqual(other, { type: "other", name: "todo.updated", properties: { sessionID: "ses_c", todos: [] } })
    assert.strictEqual(other && sessionIdOf(other), "ses_c")
    // A known type with the wrong shape is not an event we can use.
    assert.isUndefined(decodeEvent({ type: "session.idle", properties: {} }))
    assert.isUndefined(decodeEvent("not an object"))
  })

  it.live("fans events out, counts and skips undecodable lines, and sends Basic auth", () =>
    Effect.gen(function*() {
      const server = yield* sseServer
      const context = yield* Layer.build(eventsLayer(server.url, { OPENCODE_SERVER_PASSWORD: "pw" }))
      const events = Context.get(context, OpenCodeEvents)
      assert.isTrue(yield* events.awaitConnected(5_000))
      const subscription = yield* events.subscribe
      server.sendRaw("data: {not json\n\n: a comment\n\n")
      server.send({ type: "session.idle", properties: {} })
      server.send(delta("ses_1", "Hel"))
      server.send({ type: "server.heartbeat", properties: {} })
      server.send({ type: "session.idle", properties: { sessionID: "ses_1" } })
      const first = yield* PubSub.take(subscription)
      const second = yield* PubSub.take(subscription)
      const third = yield* PubSub.take(subscription)
      assert.deepStrictEqual([first.type, second.type, third.type], ["message.part.delta", "server.heartbeat", "session.idle"])
      assert.strictEqual((yield* events.status).undecodable, 2)
      assert.strictEqual(server.authorizations[0], `Basic ${Buffer.from("opencode:pw").toString("base64")}`)
    }).pipe(Effect.scoped))

  it.live("reconnects after a drop and after silence, and says so", () =>
    Effect.gen(function*() {
      const server = yield* sseServer
      const context = yield* Layer.build(eventsLayer(server.url, { OPENCODE_EVENT_SILENCE_MS: "400" }))
      const events = Context.get(context, OpenCodeEvents)
      assert.isTrue(yield* events.awaitConnected(5_000))
      const reconnects = yield* Stream.runCollect(Stream.take(events.reconnected, 2)).pipe(Effect.forkScoped)
      yield* Effect.sleep("50 millis")
      server.drop()
      yield* waitUntil(() => server.connections === 2 && server.open === 1)
      // Kept alive by heartbeats: no reconnect while they come.
      for (let i = 0; i < 4; i++) {
        server.send({ type: "server.heartbeat", properties: {} })
        yield* Effect.sleep("200 millis")
      }
      assert.strictEqual(server.connections, 2)
      // Then silence: the stream is given up and opened again.
      yield* waitUntil(() => server.connections === 3 && server.open === 1)
      assert.deepStrictEqual(yield* Fiber.join(reconnects), [2, 3])
      const subscription = yield* events.subscribe
      server.send(delta("ses_2", "after"))
      const next = yield* PubSub.take(subscription)
      assert.strictEqual(next.type, "message.part.delta")
      assert.strictEqual((yield* events.status).reconnects, 2)
    }).pipe(Effect.scoped))
})
