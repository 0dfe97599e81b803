import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type FakeOpenCode, FakeOpenCodeScoped, type FakeOpenCodeOptions, startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { cleanupAfterEach } from "../support/resources.js"

const onCleanup = cleanupAfterEach()

const start = async (options?: FakeOpenCodeOptions) => {
  const fake = await startFakeOpenCode(options)
  onCleanup(() => fake.close())
  return fake
}

const call = async (fake: FakeOpenCode, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(`${fake.url}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: response.status, body: await response.json() as any }
}

const createSession = async (fake: FakeOpenCode, title?: string): Promise<string> =>
  (await call(fake, "POST", "/session", title === undefined ? {} : { title })).body.id

const prompt = (fake: FakeOpenCode, sessionId: string, text: string) => call(fake, "POST", `/session/${sessionId}/message`, { parts: [{ type: "text", text }] })

const textOf = (answer: { body: any }) => answer.body.parts.filter((p: any) => p.type === "text").map((p: any) => p.text).join("")

describe("FakeOpenCode", () => {
  it("creates sessions and lists them most recently updated first", async () => {
    const fake = await start()
    const created = await call(fake, "POST", "/session", { title: "dingtalk cid-1" })
    assert.strictEqual(created.status, 200)
    assert.match(created.body.id, /^ses_/)
    assert.strictEqual(created.body.title, "dingtalk cid-1")
    assert.typeOf(created.body.time.created, "number")
    const second = await createSession(fake, "dingtalk cid-2")
    assert.deepStrictEqual((await call(fake, "GET", "/session")).body.map((s: any) => s.id), [second, created.body.id])
    await prompt(fake, created.body.id, "bump")
    assert.deepStrictEqual((await call(fake, "GET", "/session")).body.map((s: any) => s.id), [created.body.id, second])
    assert.strictEqual((await call(fake, "GET", `/session/${second}`)).body.title, "dingtalk cid-2")
    assert.lengthOf(fake.sessions, 2)
  })

  it("answers a message with ECHO in the real shape and keeps the history", async () => {
    const fake = await start()
    const id = await createSession(fake)
    const answer = await prompt(fake, id, "hello")
    assert.strictEqual(answer.status, 200)
    assert.include(answer.body.info, { sessionID: id, role: "assistant", finish: "stop" })
    assert.typeOf(answer.body.info.time.completed, "number")
    assert.deepStrictEqual(answer.body.parts.map((p: any) => p.type), ["step-start", "text", "step-finish"])
    assert.strictEqual(textOf(answer), "ECHO: hello")
    const history = (await call(fake, "GET", `/session/${id}/message`)).body
    assert.deepStrictEqual(history.map((m: any) => m.info.role), ["user", "assistant"])
    assert.strictEqual(history[0].parts[0].text, "hello")
    assert.include(fake.prompts[0]!, { sessionId: id, text: "hello" })
    assert.isAtLeast(fake.prompts[0]!.endedAt!, fake.prompts[0]!.startedAt)
  })

  it("answers 404 NotFoundError for an unknown session", async () => {
    const fake = await start()
    const answer = await prompt(fake, "ses_nope", "hi")
    assert.strictEqual(answer.status, 404)
    assert.strictEqual(answer.body.name, "NotFoundError")
  })

  it("custom answers get the text and session, and can be swapped", async () => {
    const fake = await start({ answer: async (text, sessionId) => `${sessionId} heard ${text}` })
    const id = await createSession(fake)
    assert.strictEqual(textOf(await prompt(fake, id, "a")), `${id} heard a`)
    fake.setAnswer((text) => text.toUpperCase())
    assert.strictEqual(textOf(await prompt(fake, id, "b")), "B")
  })

  it("every turn takes latencyMs, and maxInFlight counts concurrent turns", async () => {
    const fake = await start({ latencyMs: 100 })
    const ids = await Promise.all([createSession(fake), createSession(fake), createSession(fake)])
    const startedAt = performance.now()
    const answers = await Promise.all(ids.map((id) => prompt(fake, id, id)))
    const elapsed = performance.now() - startedAt
    assert.deepStrictEqual(answers.map(textOf), ids.map((id) => `ECHO: ${id}`))
    assert.isAtLeast(elapsed, 95)
    assert.isBelow(elapsed, 1_000)
    assert.strictEqual(fake.maxInFlight, 3)
    assert.strictEqual(fake.inFlight, 0)
    fake.setLatency(0)
    const quick = performance.now()
    await prompt(fake, ids[0]!, "quick")
    assert.isBelow(performance.now() - quick, 90)
  })

  it("SLOW, BIGREPLY and FAIL steer a turn", async () => {
    const fake = await start()
    const id = await createSession(fake)
    const slowStart = performance.now()
    await prompt(fake, id, "SLOW 80")
    assert.isAtLeast(performance.now() - slowStart, 75)
    const big = textOf(await prompt(fake, id, "BIGREPLY 5000"))
    assert.isAtLeast(Buffer.byteLength(big), 5_000)
    assert.include(big, "```ts")
    assert.isAbove(big.split("\n").length, 20)
    const failed = await prompt(fake, id, "please FAIL")
    assert.strictEqual(failed.status, 500)
  })

  it("an abort ends a running turn at once with MessageAbortedError and no text", async () => {
    const fake = await start()
    const id = await createSession(fake)
    const pending = prompt(fake, id, "SLOW 10000")
    await fake.waitForPrompts(1)
    assert.strictEqual(fake.inFlight, 1)
    const abortedAt = performance.now()
    assert.deepStrictEqual(await call(fake, "POST", `/session/${id}/abort`), { status: 200, body: true })
    const answer = await pending
    assert.isBelow(performance.now() - abortedAt, 1_000)
    assert.strictEqual(answer.status, 200)
    assert.deepStrictEqual(answer.body.info.error, { name: "MessageAbortedError", data: { message: "The operation was aborted." } })
    assert.lengthOf(answer.body.parts.filter((p: any) => p.type === "text"), 0)
    assert.deepStrictEqual(fake.aborts, [id])
    assert.strictEqual(fake.inFlight, 0)
  })

  it("an abort also ends a turn whose answer is still being computed", async () => {
    const fake = await start({ answer: () => new Promise<string>(() => undefined) })
    const id = await createSession(fake)
    const pending = prompt(fake, id, "never answered")
    await fake.waitForPrompts(1)
    await call(fake, "POST", `/session/${id}/abort`)
    assert.strictEqual((await pending).body.info.error.name, "MessageAbortedError")
  })

  it("with auth set, every route needs HTTP Basic credentials", async () => {
    const fake = await start({ auth: { password: "s3cret" } })
    const denied = await call(fake, "GET", "/session")
    assert.strictEqual(denied.status, 401)
    assert.strictEqual((await call(fake, "GET", "/mcp")).status, 401)
    const wrong = { authorization: `Basic ${Buffer.from("opencode:nope").toString("base64")}` }
    assert.strictEqual((await call(fake, "POST", "/session", {}, wrong)).status, 401)
    const right = { authorization: `Basic ${Buffer.from("opencode:s3cret").toString("base64")}` }
    assert.strictEqual((await call(fake, "POST", "/session", {}, right)).status, 200)
    assert.deepStrictEqual(await call(fake, "GET", "/mcp", undefined, right), { status: 200, body: {} })
    assert.strictEqual(fake.requests, 5)
  })

  it("a custom username replaces the default 'opencode'", async () => {
    const fake = await start({ auth: { username: "bridge", password: "pw" } })
    const as = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:pw`).toString("base64")}` })
    assert.strictEqual((await call(fake, "GET", "/session", undefined, as("opencode"))).status, 401)
    assert.strictEqual((await call(fake, "GET", "/session", undefined, as("bridge"))).status, 200)
  })

  it("failNext answers the given status for the next requests only", async () => {
    const fake = await start()
    fake.failNext(503, 2)
    assert.strictEqual((await call(fake, "POST", "/session", {})).status, 503)
    assert.strictEqual((await call(fake, "GET", "/session")).status, 503)
    assert.strictEqual((await call(fake, "POST", "/session", {})).status, 200)
  })

  it("close() does not hang while a turn is running", async () => {
    const fake = await startFakeOpenCode()
    const id = await createSession(fake)
    const pending = prompt(fake, id, "SLOW 60000").then(() => "answered", () => "cut off")
    await fake.waitForPrompts(1)
    const startedAt = performance.now()
    await fake.close()
    await fake.close()
    assert.isBelow(performance.now() - startedAt, 1_000)
    assert.include(["answered", "cut off"], await pending)
  })

  it("waitForPrompts rejects with a clear message on timeout", async () => {
    const fake = await start()
    const error = await fake.waitForPrompts(1, 20).then(() => "", (e: Error) => e.message)
    assert.match(error, /timed out after 20 ms waiting for 1 prompt/)
  })

  it.live("FakeOpenCodeScoped closes the fake when its scope ends", () =>
    Effect.gen(function*() {
      const url = yield* Effect.scoped(Effect.map(FakeOpenCodeScoped({ latencyMs: 5 }), (fake) => fake.url))
      const error = yield* Effect.promise(() => fetch(`${url}/session`).then(() => undefined, (e: Error) => e))
      assert.instanceOf(error, Error)
    }))
})
