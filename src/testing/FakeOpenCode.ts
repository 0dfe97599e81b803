/**
 * A fake `opencode serve`: the session and message API a bridge uses, on 127.0.0.1, with
 * configurable answers and latency, and directives in the prompt for deterministic tests:
 * `SLOW <ms>`, `BIGREPLY <bytes>`, `FAIL`.
 */
import { Effect } from "effect"
import http from "node:http"
import type { AddressInfo } from "node:net"

/** Options of the fake; every one has a default. */
export interface FakeOpenCodeOptions {
  /** Time every turn takes. */
  readonly latencyMs?: number
  /** The answer to a prompt (default `ECHO: <text>`). */
  readonly answer?: (text: string, sessionId: string) => string | Promise<string>
  /** Require HTTP Basic auth, as `opencode serve` does with OPENCODE_SERVER_PASSWORD. */
  readonly auth?: { readonly username?: string; readonly password: string }
}

/** A session as the fake keeps it. */
export interface FakeSession {
  readonly id: string
  readonly title: string | undefined
  readonly time: { created: number; updated: number }
}

/** A prompt the fake received. */
export interface FakePrompt {
  readonly sessionId: string
  readonly text: string
  /** `performance.now()` when the request arrived and when the answer was written. */
  readonly startedAt: number
  endedAt: number | undefined
}

/** The running fake and its controls. */
export interface FakeOpenCode {
  readonly url: string
  readonly sessions: ReadonlyArray<FakeSession>
  readonly prompts: ReadonlyArray<FakePrompt>
  readonly aborts: ReadonlyArray<string>
  readonly inFlight: number
  readonly maxInFlight: number
  readonly requests: number
  setLatency(ms: number): void
  setAnswer(answer: (text: string, sessionId: string) => string | Promise<string>): void
  failNext(status: number, times?: number): void
  close(): Promise<void>
}

/** A long markdown answer with a fenced code block in the middle. */
export const bigReply = (bytes: number): string => {
  const lines: Array<string> = ["# Big reply", ""]
  let size = 0
  let i = 0
  while (size < bytes) {
    const line = i % 40 === 10 ? "```ts" : i % 40 === 25 ? "```" : `Line ${i}: the quick brown fox — 敏捷的棕色狐狸 🦊 jumps over the lazy dog.`
    lines.push(line)
    size += Buffer.byteLength(line) + 1
    i++
  }
  if (lines.filter((l) => l.startsWith("```")).length % 2 === 1) lines.push("```")
  return lines.join("\n")
}

const json = (response: http.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  response.end(text)
}

/** Starts the fake on 127.0.0.1 with a free port. */
export const startFakeOpenCode = async (options: FakeOpenCodeOptions = {}): Promise<FakeOpenCode> => {
  let latencyMs = options.latencyMs ?? 0
  let answer = options.answer ?? ((text: string) => `ECHO: ${text}`)
  const sessions: Array<FakeSession> = []
  const history = new Map<string, Array<unknown>>()
  const prompts: Array<FakePrompt> = []
  const aborts: Array<string> = []
  const running = new Map<string, Set<() => void>>()
  let failures = { status: 500, left: 0 }
  let inFlight = 0
  let maxInFlight = 0
  let requests = 0
  let counter = 0
  const expectedAuth = options.auth === undefined
    ? undefined
    : `Basic ${Buffer.from(`${options.auth.username ?? "opencode"}:${options.auth.password}`).toString("base64")}`

  const turn = async (session: FakeSession, text: string, response: http.ServerResponse) => {
    const prompt: FakePrompt = { sessionId: session.id, text, startedAt: performance.now(), endedAt: undefined }
    prompts.push(prompt)
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    const slow = /SLOW (\d+)/.exec(text)
    const delay = slow === null ? latencyMs : Number(slow[1])
    // No timer for a zero delay: even setTimeout(0) costs a millisecond, which benchmarks would see.
    const aborted = delay === 0 ? false : await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), delay)
      const abort = () => {
        clearTimeout(timer)
        resolve(true)
      }
      const set = running.get(session.id) ?? new Set()
      set.add(abort)
      running.set(session.id, set)
    })
    running.get(session.id)?.clear()
    inFlight--
    const messageId = `msg_${++counter}`
    const info = { id: messageId, sessionID: session.id, role: "assistant", time: { created: Date.now(), completed: Date.now() } }
    session.time.updated = Date.now()
    if (aborted) {
      prompt.endedAt = performance.now()
      return json(response, 200, { info: { ...info, error: { name: "MessageAbortedError", data: { message: "The operation was aborted." } } }, parts: [] })
    }
    if (/\bFAIL\b/.test(text)) {
      prompt.endedAt = performance.now()
      return json(response, 500, { name: "UnknownError", data: { message: "injected failure" } })
    }
    const big = /BIGREPLY (\d+)/.exec(text)
    const reply = big === null ? await answer(text, session.id) : bigReply(Number(big[1]))
    const parts = [{ type: "step-start" }, { type: "text", text: reply }, { type: "step-finish" }]
    history.get(session.id)?.push({ info: { role: "user" }, parts: [{ type: "text", text }] }, { info: { ...info, finish: "stop" }, parts })
    prompt.endedAt = performance.now()
    json(response, 200, { info: { ...info, finish: "stop" }, parts })
  }

  const server = http.createServer((request, response) => {
    requests++
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      if (expectedAuth !== undefined && request.headers.authorization !== expectedAuth) {
        return json(response, 401, { name: "Unauthorized", data: { message: "authentication required" } })
      }
      if (failures.left > 0) {
        failures.left--
        return json(response, failures.status, { name: "InjectedError", data: { message: "injected failure" } })
      }
      let body: any
      try {
        body = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString("utf8"))
      } catch {
        return json(response, 400, { name: "BadRequest", data: { message: "invalid JSON" } })
      }
      const path = new URL(request.url ?? "/", "http://x").pathname
      const match = /^\/session\/([^/]+)(?:\/(message|abort))?$/.exec(path)
      if (path === "/session" && request.method === "POST") {
        const now = Date.now()
        const session: FakeSession = { id: `ses_${++counter}`, title: body?.title, time: { created: now, updated: now } }
        sessions.push(session)
        history.set(session.id, [])
        return json(response, 200, session)
      }
      if (path === "/session" && request.method === "GET") return json(response, 200, [...sessions].sort((a, b) => b.time.updated - a.time.updated))
      if (path === "/mcp") return json(response, 200, {})
      if (match !== null) {
        const session = sessions.find((s) => s.id === decodeURIComponent(match[1]!))
        if (session === undefined) return json(response, 404, { name: "NotFoundError", data: { message: `Session not found: ${match[1]}` } })
        if (match[2] === "abort" && request.method === "POST") {
          aborts.push(session.id)
          for (const abort of running.get(session.id) ?? []) abort()
          return json(response, 200, true)
        }
        if (match[2] === "message" && request.method === "GET") return json(response, 200, history.get(session.id) ?? [])
        if (match[2] === "message" && request.method === "POST") {
          const text = (body?.parts ?? []).filter((p: any) => p?.type === "text").map((p: any) => p.text).join("\n")
          return void turn(session, text, response)
        }
        if (match[2] === undefined && request.method === "GET") return json(response, 200, session)
      }
      json(response, 404, { name: "NotFoundError", data: { message: path } })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    sessions,
    prompts,
    aborts,
    get inFlight() {
      return inFlight
    },
    get maxInFlight() {
      return maxInFlight
    },
    get requests() {
      return requests
    },
    setLatency: (ms) => {
      latencyMs = ms
    },
    setAnswer: (next) => {
      answer = next
    },
    failNext: (status, times = 1) => {
      failures = { status, left: times }
    },
    close: async () => {
      for (const set of running.values()) for (const abort of set) abort()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The fake as a scoped Effect resource: closed when the scope ends. */
export const FakeOpenCodeScoped = (options?: FakeOpenCodeOptions) =>
  Effect.acquireRelease(Effect.promise(() => startFakeOpenCode(options)), (fake) => Effect.promise(() => fake.close()))
