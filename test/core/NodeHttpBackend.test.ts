import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Stream } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { keepAliveHttpClient } from "../../src/core/KeepAliveHttpClient.js"

interface Seen {
  readonly body: string
  readonly headers: http.IncomingHttpHeaders
}

interface TestServer {
  readonly url: string
  readonly seen: Array<Seen>
  readonly connections: () => number
  readonly closedEarly: () => number
  readonly close: () => void
}

/** A server on 127.0.0.1 that records each request; `/hold` never answers, `/late` sends half a body and hangs up. */
const server = Effect.acquireRelease(
  Effect.callback<TestServer>((resume) => {
    const seen: Array<Seen> = []
    let connections = 0
    let closedEarly = 0
    const instance = http.createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => (body += chunk))
      request.on("end", () => {
        seen.push({ body, headers: request.headers })
        if (request.url === "/hold") return void response.on("close", () => (closedEarly += response.writableEnded ? 0 : 1))
        if (request.url === "/late") {
          response.writeHead(200, { "content-length": "100" }).write("partial")
          return void setTimeout(() => response.socket?.destroy(), 20)
        }
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ echo: body }))
      })
    })
    instance.on("connection", () => connections++)
    instance.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ url: `http://127.0.0.1:${(instance.address() as AddressInfo).port}`, seen, connections: () => connections, closedEarly: () => closedEarly, close: () => instance.close() })))
  }),
  (s) => Effect.sync(() => s.close())
)

describe("NodeHttpBackend", () => {
  it.live("a JSON body arrives whole, the answer reads twice, and keep-alive reuses one socket", () =>
    Effect.gen(function*() {
      const { url, seen, connections } = yield* server
      const client = yield* keepAliveHttpClient({ keepAlive: true })
      for (const n of [1, 2]) {
        const response = yield* client.execute(HttpClientRequest.post(`${url}/echo`).pipe(HttpClientRequest.bodyJsonUnsafe({ n, text: "你好" })))
        assert.strictEqual(response.status, 200)
        const [first, again, json] = yield* Effect.all([response.text, response.text, response.json])
        assert.strictEqual(first, again)
        assert.deepStrictEqual(json, { echo: JSON.stringify({ n, text: "你好" }) })
      }
      assert.deepStrictEqual(seen.map((s) => JSON.parse(s.body)), [{ n: 1, text: "你好" }, { n: 2, text: "你好" }])
      assert.strictEqual(seen[0]!.headers["content-type"], "application/json")
      assert.strictEqual(seen[0]!.headers["content-length"], String(Buffer.byteLength(seen[0]!.body)))
      assert.strictEqual(connections(), 1)
    }).pipe(Effect.scoped))

  it.live("a request cut short by a timeout closes its connection and the process keeps running", () =>
    Effect.gen(function*() {
      const { url, closedEarly } = yield* server
      const client = yield* keepAliveHttpClient({ keepAlive: true })
      const outcome = yield* client.get(`${url}/hold`).pipe(Effect.timeout(Duration.millis(100)), Effect.flip)
      assert.isTrue(outcome._tag === "TimeoutError")
      yield* Effect.sleep(Duration.millis(100))
      assert.strictEqual(closedEarly(), 1)
      // The pool still works afterwards.
      const response = yield* client.execute(HttpClientRequest.post(`${url}/echo`).pipe(HttpClientRequest.bodyText("ok")))
      assert.deepStrictEqual(yield* response.json, { echo: "ok" })
    }).pipe(Effect.scoped))

  it.live("a refused connection and a body cut off mid-way are errors, not crashes", () =>
    Effect.gen(function*() {
      const { url } = yield* server
      const client = yield* keepAliveHttpClient({ keepAlive: true })
      const refused = yield* client.get("http://127.0.0.1:9/").pipe(Effect.flip)
      assert.strictEqual(refused.reason._tag, "TransportError")
      const response = yield* client.get(`${url}/late`)
      const cut = yield* response.text.pipe(Effect.flip)
      assert.strictEqual(cut.reason._tag, "DecodeError")
    }).pipe(Effect.scoped))

  it.live("a streamed body still goes out (through NodeHttpClient)", () =>
    Effect.gen(function*() {
      const { url, seen } = yield* server
      const client = (yield* keepAliveHttpClient({ keepAlive: true })).pipe(HttpClient.filterStatusOk)
      const chunks = Stream.fromIterable(["a", "b", "c"]).pipe(Stream.map((s) => new TextEncoder().encode(s)))
      const response = yield* client.execute(HttpClientRequest.post(`${url}/echo`).pipe(HttpClientRequest.bodyStream(chunks)))
      assert.deepStrictEqual(yield* response.json, { echo: "abc" })
      assert.strictEqual(seen.at(-1)!.body, "abc")
    }).pipe(Effect.scoped))
})
