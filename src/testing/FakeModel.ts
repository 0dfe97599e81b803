/**
 * A fake OpenAI-compatible model server (`POST /v1/chat/completions`, `GET /v1/models`) so a real
 * `opencode serve` runs offline and deterministically. The answer is decided by the last user
 * message: `SLOW <ms>` waits first, `BIGREPLY <bytes>` answers with long markdown,
 * `CALLTOOL <name> <json>` calls a tool (and then answers `TOOL RESULT: <tool output>`),
 * `STREAM <n> <ms>` streams `chunk-1 chunk-2 … chunk-n` one chunk every `ms`, anything else is echoed
 * as `ECHO: <text>`.
 */
import { Effect } from "effect"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { bigReply } from "./FakeOpenCode.js"

/** A chat completion request the fake received. */
export interface ModelRequest {
  readonly messages: ReadonlyArray<{ readonly role: string; readonly content: unknown }>
  readonly tools: ReadonlyArray<string>
  readonly stream: boolean
  /** The `image_url` URLs of the last user message (`data:` URLs): the pictures the model was shown. */
  readonly images: ReadonlyArray<string>
}

/** `image_url` URLs in a message's content. */
const imagesOf = (content: unknown): ReadonlyArray<string> =>
  Array.isArray(content)
    ? content.flatMap((part) => (part?.type === "image_url" && typeof part.image_url?.url === "string" ? [part.image_url.url as string] : []))
    : []

/** A `STREAM` answer as it went out: `performance.now()` of its first and last chunk. */
export interface ModelStream {
  readonly chunks: number
  firstChunkAt: number | undefined
  lastChunkAt: number | undefined
}

/** The text a `STREAM <n> <ms>` answer adds up to. */
export const streamedText = (chunks: number): string => Array.from({ length: chunks }, (_, i) => `chunk-${i + 1}`).join(" ")

/** The running fake model. */
export interface FakeModel {
  /** Base URL for an OpenAI-compatible provider, ending in `/v1`. */
  readonly url: string
  readonly requests: ReadonlyArray<ModelRequest>
  /** `STREAM` answers in order. */
  readonly streams: ReadonlyArray<ModelStream>
  close(): Promise<void>
}

const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((part) => (typeof part === "object" && part !== null && "text" in part ? String(part.text) : "")).join("")
    : ""

type Reply =
  | { readonly text: string }
  | { readonly tool: string; readonly args: string }
  | { readonly stream: number; readonly everyMs: number }

/** Decides the answer to a request. */
const decide = (request: ModelRequest): Reply => {
  const last = request.messages.at(-1)
  if (last?.role === "tool") return { text: `TOOL RESULT: ${textOf(last.content)}` }
  const system = request.messages.filter((m) => m.role === "system").map((m) => textOf(m.content)).join("\n")
  const user = [...request.messages].reverse().find((m) => m.role === "user")
  const text = textOf(user?.content).trim()
  // OpenCode asks for a session title on the side: answer it without using a directive.
  if (request.tools.length === 0 && /title/i.test(system)) return { text: "Test session" }
  const call = /CALLTOOL (\S+)(?: (\{[^\n]*\}))?/.exec(text)
  if (call !== null) return { tool: call[1]!, args: call[2] ?? "{}" }
  const stream = /STREAM (\d+) (\d+)/.exec(text)
  if (stream !== null) return { stream: Number(stream[1]), everyMs: Number(stream[2]) }
  const big = /BIGREPLY (\d+)/.exec(text)
  if (big !== null) return { text: bigReply(Number(big[1])) }
  return { text: `ECHO: ${text}` }
}

const chunk = (delta: object, finish: string | null) =>
  `data: ${JSON.stringify({ id: "chatcmpl-fake", object: "chat.completion.chunk", created: 0, model: "echo", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`

/** Starts the fake model on 127.0.0.1 with a free port. */
export const startFakeModel = async (): Promise<FakeModel> => {
  const requests: Array<ModelRequest> = []
  const streams: Array<ModelStream> = []
  const server = http.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (c: Buffer) => chunks.push(c))
    request.on("end", () => {
      const path = new URL(request.url ?? "/", "http://x").pathname
      if (request.method === "GET" && path.endsWith("/models")) {
        response.writeHead(200, { "content-type": "application/json" })
        return response.end(JSON.stringify({ object: "list", data: [{ id: "echo", object: "model", owned_by: "fake" }] }))
      }
      if (request.method !== "POST" || !path.endsWith("/chat/completions")) {
        response.writeHead(404)
        return response.end()
      }
      let body: any = {}
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
      } catch {
        // an empty request is answered like any other
      }
      const modelRequest: ModelRequest = {
        messages: Array.isArray(body.messages) ? body.messages : [],
        tools: Array.isArray(body.tools) ? body.tools.map((t: any) => String(t?.function?.name)) : [],
        stream: body.stream === true,
        images: imagesOf((Array.isArray(body.messages) ? [...body.messages].reverse().find((m: any) => m?.role === "user") : undefined)?.content),
      }
      requests.push(modelRequest)
      const reply = decide(modelRequest)
      const user = [...modelRequest.messages].reverse().find((m) => m.role === "user")
      const slow = "text" in reply && reply.text.startsWith("ECHO:") ? /SLOW (\d+)/.exec(textOf(user?.content)) : null
      setTimeout(() => respond(modelRequest, reply, response), slow === null ? 0 : Number(slow[1]))
    })
  })

  const respond = (request: ModelRequest, reply: Reply, response: http.ServerResponse) => {
    if ("stream" in reply) return streamSlowly(reply.stream, reply.everyMs, response)
    if (!request.stream) {
      response.writeHead(200, { "content-type": "application/json" })
      const message = "text" in reply
        ? { role: "assistant", content: reply.text }
        : { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: reply.tool, arguments: reply.args } }] }
      return response.end(JSON.stringify({
        id: "chatcmpl-fake", object: "chat.completion", created: 0, model: "echo",
        choices: [{ index: 0, message, finish_reason: "text" in reply ? "stop" : "tool_calls" }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }))
    }
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })
    if ("text" in reply) {
      response.write(chunk({ role: "assistant", content: reply.text }, null))
      response.write(chunk({}, "stop"))
    } else {
      response.write(chunk({ role: "assistant", tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: reply.tool, arguments: reply.args } }] }, null))
      response.write(chunk({}, "tool_calls"))
    }
    response.end("data: [DONE]\n\n")
  }

  /** One chunk every `everyMs`; stops when OpenCode hangs up (an abort). */
  const streamSlowly = (chunks: number, everyMs: number, response: http.ServerResponse) => {
    const record: ModelStream = { chunks, firstChunkAt: undefined, lastChunkAt: undefined }
    streams.push(record)
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" })
    let sent = 0
    const timer = setInterval(() => {
      if (sent === chunks) {
        clearInterval(timer)
        response.write(chunk({}, "stop"))
        return response.end("data: [DONE]\n\n")
      }
      const now = performance.now()
      record.firstChunkAt ??= now
      record.lastChunkAt = now
      response.write(chunk(sent === 0 ? { role: "assistant", content: "chunk-1" } : { content: ` chunk-${sent + 1}` }, null))
      sent++
    }, everyMs)
    response.on("close", () => clearInterval(timer))
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    requests,
    streams,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The fake model as a scoped Effect resource. */
export const FakeModelScoped = () => Effect.acquireRelease(Effect.promise(() => startFakeModel()), (model) => Effect.promise(() => model.close()))
