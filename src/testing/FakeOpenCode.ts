/**
 * A fake `opencode serve`: the session and message API a bridge uses, on 127.0.0.1, with
 * configurable answers and latency, and directives in the prompt for deterministic tests:
 * `SLOW <ms>`, `BIGREPLY <bytes>`, `FAIL`. It never writes to stdout or stderr.
 */
import { Effect } from "effect"
import http from "node:http"
import type { AddressInfo } from "node:net"

/** Computes the answer to a prompt. */
export type FakeAnswer = (text: string, sessionId: string) => string | Promise<string>

/** Options of the fake; every one has a default. */
export interface FakeOpenCodeOptions {
  /** Time every turn takes; default 0. */
  readonly latencyMs?: number
  /** The answer to a prompt (default `ECHO: <text>`). */
  readonly answer?: FakeAnswer
  /** Require HTTP Basic auth on every route, as `opencode serve` does with OPENCODE_SERVER_PASSWORD. */
  readonly auth?: { readonly username?: string; readonly password: string }
  /** Models listed by `GET /config/providers` ("provider/model", image input or not); default `fake/echo` without images. */
  readonly models?: ReadonlyArray<{ readonly ref: string; readonly image?: boolean }>
  /** `model` of `GET /config`; default: the first model. */
  readonly defaultModel?: string
  /** `directory` of `GET /path` (OpenCode's working directory); default: this process's cwd. */
  readonly directory?: string
}

/** A session as the fake keeps it. */
export interface FakeSession {
  readonly id: string
  readonly title: string | undefined
  readonly projectID: string
  readonly directory: string
  readonly version: string
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
  /** `http://127.0.0.1:<port>` (OPENCODE_SERVER_URL for the bridge). */
  readonly url: string
  /** Sessions in creation order. */
  readonly sessions: ReadonlyArray<FakeSession>
  /** Prompts in arrival order. */
  readonly prompts: ReadonlyArray<FakePrompt>
  /** The `parts` of every prompt, in arrival order (text and file parts as sent), and its `model` and `agent` if set. */
  readonly promptParts: ReadonlyArray<{ readonly sessionId: string; readonly parts: ReadonlyArray<any>; readonly model?: unknown; readonly agent?: unknown }>
  /** Session IDs of `/abort` calls, in order. */
  readonly aborts: ReadonlyArray<string>
  /** Turns running now. */
  readonly inFlight: number
  /** The most turns ever running at once. */
  readonly maxInFlight: number
  /** HTTP requests received, rejected ones included. */
  readonly requests: number
  /** Every request as `METHOD /path` (no query), in arrival order. */
  readonly requestLog: ReadonlyArray<string>
  /** Resolves with the prompts once at least `count` have arrived. */
  waitForPrompts(count: number, timeoutMs?: number): Promise<ReadonlyArray<FakePrompt>>
  setLatency(ms: number): void
  setAnswer(answer: FakeAnswer): void
  /** The next `times` requests (after the auth check) answer HTTP `status`. */
  failNext(status: number, times?: number): void
  /** Ends running turns without a reply, as an OpenCode that crashed mid-turn (the question stays in the history). */
  dropRunningTurns(): void
  /** Ends running turns and closes the server; never hangs. */
  close(): Promise<void>
}

/** A long markdown answer of at least `bytes` UTF-8 bytes with fenced code blocks in it. */
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

const ABORTED = Symbol("aborted")
const DROPPED = Symbol("dropped")

/** `GET /config/providers` for the given models, shaped as OpenCode 1.18 answers it. */
const providersAnswer = (models: ReadonlyArray<{ readonly ref: string; readonly image?: boolean }>) => {
  const providers = new Map<string, Record<string, unknown>>()
  for (const model of models) {
    const [providerID = "fake", id = model.ref] = model.ref.split("/", 2)
    const entry = providers.get(providerID) ?? {}
    const image = model.image ?? false
    entry[id] = {
      id, providerID, name: id,
      capabilities: { attachment: image, toolcall: true, input: { text: true, image, pdf: false, audio: false, video: false } },
    }
    providers.set(providerID, entry)
  }
  return {
    providers: [...providers].map(([id, entries]) => ({ id, name: id, models: entries })),
    default: Object.fromEntries([...providers].map(([id, entries]) => [id, Object.keys(entries)[0]])),
  }
}

/** Starts the fake on 127.0.0.1 with a free port. */
export const startFakeOpenCode = async (options: FakeOpenCodeOptions = {}): Promise<FakeOpenCode> => {
  let latencyMs = options.latencyMs ?? 0
  let answer: FakeAnswer = options.answer ?? ((text) => `ECHO: ${text}`)
  const sessions: Array<FakeSession> = []
  const history = new Map<string, Array<unknown>>()
  const prompts: Array<FakePrompt> = []
  const aborts: Array<string> = []
  const promptParts: Array<{ readonly sessionId: string; readonly parts: ReadonlyArray<any>; readonly model?: unknown; readonly agent?: unknown }> = []
  const models = options.models ?? [{ ref: "fake/echo" }]
  const running = new Map<string, Set<(how?: typeof DROPPED) => void>>() // session → abort hooks of its running turns
  const waiters = new Set<() => void>()
  let failures = { status: 500, left: 0 }
  let inFlight = 0
  let maxInFlight = 0
  let counter = 0
  let closed = false
  const expectedAuth = options.auth === undefined
    ? undefined
    : `Basic ${Buffer.from(`${options.auth.username ?? "opencode"}:${options.auth.password}`).toString("base64")}`

  const notify = () => {
    for (const waiter of [...waiters]) waiter()
  }

  const turn = async (session: FakeSession, text: string, response: http.ServerResponse, messageId?: string) => {
    const prompt: FakePrompt = { sessionId: session.id, text, startedAt: performance.now(), endedAt: undefined }
    prompts.push(prompt)
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    const created = Date.now()
    // The client may name the user message (`messageID`), as OpenCode allows.
    const userId = messageId ?? `msg_${++counter}`
    history.get(session.id)?.push({ info: { id: userId, sessionID: session.id, role: "user", time: { created } }, parts: [{ type: "text", text }] })
    notify()

    // One abort hook per turn, live for the whole turn (delay and answer), so /abort ends it at once.
    let abort!: (how?: typeof DROPPED) => void
    const aborted = new Promise<typeof ABORTED | typeof DROPPED>((resolve) => {
      abort = (how) => resolve(how ?? ABORTED)
    })
    const hooks = running.get(session.id) ?? new Set()
    hooks.add(abort)
    running.set(session.id, hooks)
    let timer: NodeJS.Timeout | undefined

    const slow = /\bSLOW (\d+)/.exec(text)
    const delay = slow === null ? latencyMs : Number(slow[1])
    const big = /\bBIGREPLY (\d+)/.exec(text)
    const fail = /\bFAIL\b/.test(text)
    const work = async (): Promise<string | undefined> => {
      // No timer for a zero delay: even setTimeout(0) costs a millisecond, which benchmarks would see.
      if (delay > 0) await new Promise<void>((resolve) => (timer = setTimeout(resolve, delay)))
      if (fail) return undefined
      return big === null ? await answer(text, session.id) : bigReply(Number(big[1]))
    }
    let outcome: string | undefined | typeof ABORTED | typeof DROPPED
    let crashed: unknown = undefined
    try {
      outcome = await Promise.race([work(), aborted])
    } catch (error) {
      crashed = error
    }
    if (timer !== undefined) clearTimeout(timer)
    hooks.delete(abort)
    inFlight--
    session.time.updated = Date.now()
    const info = {
      id: `msg_${++counter}`,
      sessionID: session.id,
      parentID: userId,
      role: "assistant",
      modelID: "fake-model",
      providerID: "fake",
      mode: "build",
      time: { created, completed: Date.now() },
    }
    prompt.endedAt = performance.now()
    notify()
    if (outcome === DROPPED) return void response.destroy()
    if (outcome === ABORTED) {
      const message = { info: { ...info, error: { name: "MessageAbortedError", data: { message: "The operation was aborted." } } }, parts: [] }
      history.get(session.id)?.push(message)
      return json(response, 200, message)
    }
    if (fail || crashed !== undefined || outcome === undefined) {
      const reason = crashed instanceof Error ? crashed.message : "injected failure"
      history.get(session.id)?.push({ info: { ...info, error: { name: "UnknownError", data: { message: reason } } }, parts: [] })
      return json(response, 500, { name: "UnknownError", data: { message: reason } })
    }
    const message = { info: { ...info, finish: "stop" }, parts: [{ type: "step-start" }, { type: "text", text: outcome }, { type: "step-finish", reason: "stop" }] }
    history.get(session.id)?.push(message)
    json(response, 200, message)
  }

  const handle = (request: http.IncomingMessage, raw: string, response: http.ServerResponse) => {
    if (expectedAuth !== undefined && request.headers.authorization !== expectedAuth) {
      response.setHeader("www-authenticate", `Basic realm="opencode"`)
      return json(response, 401, { name: "Unauthorized", data: { message: "authentication required" } })
    }
    if (failures.left > 0) {
      failures.left--
      return json(response, failures.status, { name: "InjectedError", data: { message: "injected failure" } })
    }
    let body: any
    try {
      body = raw === "" ? {} : JSON.parse(raw)
    } catch {
      return json(response, 400, { name: "BadRequest", data: { message: "invalid JSON" } })
    }
    const path = new URL(request.url ?? "/", "http://x").pathname
    if (path === "/session" && request.method === "POST") {
      const now = Date.now()
      const session: FakeSession = {
        id: `ses_${++counter}`,
        title: typeof body?.title === "string" ? body.title : undefined,
        projectID: "global",
        directory: process.cwd(),
        version: "fake",
        time: { created: now, updated: now },
      }
      sessions.push(session)
      history.set(session.id, [])
      return json(response, 200, session)
    }
    if (path === "/session" && request.method === "GET") {
      // Newest first; the creation order breaks ties within one millisecond.
      const ordered = sessions.map((session, index) => ({ session, index })).sort((a, b) => b.session.time.updated - a.session.time.updated || b.index - a.index)
      return json(response, 200, ordered.map((entry) => entry.session))
    }
    if (path === "/mcp" && request.method === "GET") return json(response, 200, {})
    if (path === "/session/status" && request.method === "GET") {
      return json(response, 200, Object.fromEntries([...running].filter(([, hooks]) => hooks.size > 0).map(([id]) => [id, { type: "busy" }])))
    }
    if (path === "/config/providers" && request.method === "GET") return json(response, 200, providersAnswer(models))
    if (path === "/config" && request.method === "GET") return json(response, 200, { model: options.defaultModel ?? models[0]?.ref })
    if (path === "/path" && request.method === "GET") {
      const directory = options.directory ?? process.cwd()
      return json(response, 200, { home: directory, state: directory, config: directory, worktree: directory, directory })
    }
    if (path === "/global/health" && request.method === "GET") return json(response, 200, { healthy: true, version: "fake" })
    const match = /^\/session\/([^/]+)(?:\/(message|abort))?$/.exec(path)
    if (match !== null) {
      const id = decodeURIComponent(match[1]!)
      const session = sessions.find((s) => s.id === id)
      if (session === undefined) return json(response, 404, { name: "NotFoundError", data: { message: `Session not found: ${id}` } })
      if (match[2] === "abort" && request.method === "POST") {
        aborts.push(session.id)
        for (const abort of running.get(session.id) ?? []) abort()
        return json(response, 200, true)
      }
      if (match[2] === "message" && request.method === "GET") return json(response, 200, history.get(session.id) ?? [])
      if (match[2] === "message" && request.method === "POST") {
        const parts: Array<any> = Array.isArray(body?.parts) ? body.parts : []
        const text = parts.filter((p) => p?.type === "text").map((p) => String(p.text)).join("\n")
        if (body?.messageID !== undefined && !String(body.messageID).startsWith("msg")) {
          return json(response, 400, { name: "BadRequest", data: { message: `Expected a string starting with "msg", got ${JSON.stringify(body.messageID)}` } })
        }
        promptParts.push({ sessionId: session.id, parts, ...(body?.model === undefined ? {} : { model: body.model }), ...(body?.agent === undefined ? {} : { agent: body.agent }) })
        return void turn(session, text, response, body?.messageID === undefined ? undefined : String(body.messageID))
      }
      if (match[2] === undefined && request.method === "GET") return json(response, 200, session)
      if (match[2] === undefined && request.method === "DELETE") {
        sessions.splice(sessions.indexOf(session), 1)
        history.delete(session.id)
        return json(response, 200, true)
      }
    }
    json(response, 404, { name: "NotFoundError", data: { message: path } })
  }

  const requestLog: Array<string> = []
  const server = http.createServer((request, response) => {
    requestLog.push(`${request.method} ${(request.url ?? "/").split("?")[0]}`)
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => handle(request, Buffer.concat(chunks).toString("utf8"), response))
    request.on("error", () => response.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    sessions,
    prompts,
    promptParts,
    aborts,
    get inFlight() {
      return inFlight
    },
    get maxInFlight() {
      return maxInFlight
    },
    get requests() {
      return requestLog.length
    },
    requestLog,
    waitForPrompts: (count, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (prompts.length < count) return
          done()
          resolve(prompts.slice())
        }
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`FakeOpenCode: timed out after ${timeoutMs} ms waiting for ${count} prompt(s); got ${prompts.length}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
    setLatency: (ms) => {
      latencyMs = ms
    },
    setAnswer: (next) => {
      answer = next
    },
    dropRunningTurns: () => {
      for (const hooks of running.values()) for (const abort of hooks) abort(DROPPED)
    },
    failNext: (status, times = 1) => {
      failures = { status, left: times }
    },
    close: async () => {
      if (closed) return
      closed = true
      for (const hooks of running.values()) for (const abort of hooks) abort()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The fake as a scoped Effect resource: closed when the scope ends. */
export const FakeOpenCodeScoped = (options?: FakeOpenCodeOptions) =>
  Effect.acquireRelease(Effect.promise(() => startFakeOpenCode(options)), (fake) => Effect.promise(() => fake.close()))
