/**
 * The sandbox's web chat on 127.0.0.1: people type as DingTalk users, the embedded emulator pushes
 * their messages to the real pipeline, and the robot's replies (as the emulator received them) are
 * shown with live bridge stats and OpenCode's reachability. The page is local but a browser visits other
 * sites too: Host and Origin must be this page's, `/api/*` needs the per-run token embedded in the page,
 * bodies are JSON only (a cross-site form or `text/plain` fetch cannot send one without a preflight) and capped.
 */
import { Console, Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { DingTalkStream } from "../dingtalk/DingTalkStream.js"
import { OpenCodeClient } from "../opencode/OpenCodeClient.js"
import type { DingTalkEmulator } from "../emulator/DingTalkEmulator.js"
import { chatPageHtml } from "./ChatPageHtml.js"
import { SANDBOX_LIMITS, SANDBOX_MAX_ATTACHMENT_BODY_BYTES, checkSandboxRequest, readJsonBody, withToken } from "./SandboxGuard.js"

interface Chat {
  readonly id: string
  readonly type: "1" | "2"
  readonly title: string
}

interface UserMessage {
  readonly conversationId: string
  readonly sender: string
  readonly text: string
  readonly at: number
}

/** Picture types the page shows inline (never SVG or HTML: they could run script on this origin). */
const INLINE_IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp"])

const listenOn = (server: http.Server, host: string, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve((server.address() as AddressInfo).port)
    })
  })

/** Serves the chat page for the emulator; prints where on stderr. Falls back to a free port when `port` is taken. */
export const chatPageLayer = (emulator: DingTalkEmulator, options: { readonly host: string; readonly port: number }) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const metrics = yield* BridgeMetrics
    const stream = yield* DingTalkStream
    const opencode = yield* OpenCodeClient
    // Page requests run in the application's runtime: its logger, log level, tracer and metrics.
    const run = Effect.runPromiseWith(yield* Effect.context<never>())
    const chats: Array<Chat> = [
      { id: "cid-sandbox-1on1", type: "1", title: "Robot" },
      { id: "cid-sandbox-group", type: "2", title: "Sandbox team" },
    ]
    const sent: Array<UserMessage> = []
    // The emulator stamps replies with performance.now(); the page shows wall-clock times.
    const wallClock = (at: number) => Date.now() - (performance.now() - at)

    // Files the agent sent (dingtalk_send_file): shown as a picture or a download link, served from /files/<mediaId>.
    const isMediaReply = (reply: { readonly msgtype: string; readonly text: string }) =>
      reply.msgtype === "image" || reply.msgtype === "file" || (reply.msgtype === "markdown" && /^!\[[^\]]*\]\(@[^)\s]+\)$/.test(reply.text.trim()))
    const mediaMessages = (conversationId: string) =>
      emulator.mediaSends.filter((send) => send.conversationId === conversationId).map((send) => ({
        from: "robot",
        text: `📎 ${send.upload?.fileName ?? send.fileName ?? send.mediaId}`,
        route: send.route,
        at: wallClock(send.at),
        ...(send.upload === undefined ? {} : { file: { href: `/files/${encodeURIComponent(send.mediaId)}`, image: send.kind === "image" && INLINE_IMAGES.has(send.upload.contentType) } }),
      }))

    const state = async (conversationId: string | null) => {
      const [snapshot, connection, reachable] = await run(Effect.all([metrics.snapshot, stream.status, opencode.reachable]))
      const messages = conversationId === null ? [] : [
        ...sent.filter((m) => m.conversationId === conversationId).map((m) => ({ from: "user", sender: m.sender, text: m.text, at: m.at })),
        ...emulator.repliesFor(conversationId).filter((r) => !isMediaReply(r)).map((r) => ({ from: "robot", text: r.text, route: r.route, at: wallClock(r.at) })),
        // AI cards as the emulator holds them now: the page's polling shows them grow.
        ...emulator.cardsFor(conversationId).map((c) => ({
          from: "card",
          text: c.text,
          card: c.flowStatus === "5" ? "failed" : c.finalized ? "finished" : "streaming",
          updates: c.calls.length,
          at: wallClock(c.createdAt),
        })),
        ...mediaMessages(conversationId),
      ].sort((a, b) => a.at - b.at)
      return {
        chats,
        messages,
        opencode: { reachable, url: opencode.url },
        stats: {
          connection: connection.state,
          queueDepth: snapshot.gauges.queueDepth,
          inFlight: snapshot.gauges.inFlight,
          turnP50: snapshot.latency.turn.p50 === undefined ? null : Math.round(snapshot.latency.turn.p50),
          received: snapshot.counters.received,
          replies: snapshot.counters.replies,
          parts: snapshot.counters.replyParts,
          rateLimitWaitMs: snapshot.counters.rateLimitWaitMs,
        },
      }
    }

    // A fresh secret per run: only a page this process served can call its API.
    const token = randomBytes(24).toString("base64url")
    let boundPort = options.port

    const handle = async (request: http.IncomingMessage, response: http.ServerResponse) => {
      const url = new URL(request.url ?? "/", "http://localhost")
      const json = (body: unknown, status = 200) => {
        response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
        response.end(JSON.stringify(body))
      }
      const refusal = checkSandboxRequest(request, url.pathname, { port: boundPort, token })
      if (refusal !== undefined) return json({ error: refusal.message }, refusal.status)
      const readJson = async () => {
        const body = await readJsonBody(request)
        if (body._tag === "Refused") {
          json({ error: body.message }, body.status)
          return undefined
        }
        return body.value
      }
      if (request.method === "GET" && url.pathname === "/") {
        response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "x-frame-options": "DENY", "x-content-type-options": "nosniff" })
        return response.end(withToken(chatPageHtml, token))
      }
      if (request.method === "GET" && url.pathname === "/api/state") return json(await state(url.searchParams.get("conversation")))
      if (request.method === "GET" && url.pathname.startsWith("/files/")) {
        // The media ID is an unguessable name; only known raster images are shown inline, the rest downloads.
        const upload = emulator.uploads.find((u) => u.mediaId === decodeURIComponent(url.pathname.slice("/files/".length)))
        if (upload === undefined) return json({ error: "unknown file" }, 404)
        const inline = INLINE_IMAGES.has(upload.contentType)
        response.writeHead(200, {
          "content-type": inline ? upload.contentType : "application/octet-stream",
          "content-disposition": `${inline ? "inline" : "attachment"}; filename*=UTF-8''${encodeURIComponent(upload.fileName)}`,
          "x-content-type-options": "nosniff", "cache-control": "no-store", "content-security-policy": "default-src 'none'",
        })
        return response.end(upload.data)
      }
      if (request.method === "POST" && url.pathname === "/api/attach") {
        const body = await readJsonBody(request, SANDBOX_MAX_ATTACHMENT_BODY_BYTES)
        if (body._tag === "Refused") return json({ error: body.message }, body.status)
        const { conversationId, sender, fileName, mime, base64, text } = body.value
        const chat = chats.find((c) => c.id === conversationId)
        if (chat === undefined || typeof fileName !== "string" || fileName === "" || typeof base64 !== "string") return json({ error: "unknown chat, or no file" }, 400)
        const data = Buffer.from(base64, "base64")
        const caption = typeof text === "string" ? text.trim() : ""
        const name = typeof sender === "string" && sender.trim() !== "" ? sender.trim() : "Sandbox user"
        const who = { conversationId: chat.id, conversationType: chat.type, senderNick: name, senderStaffId: `sandbox-${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`, ...(chat.type === "2" ? { conversationTitle: chat.title } : {}) }
        const contentType = typeof mime === "string" && mime !== "" ? mime : "application/octet-stream"
        sent.push({ conversationId: chat.id, sender: name, text: `📎 ${fileName}${caption === "" ? "" : `\n${caption}`}`, at: Date.now() })
        if (sent.length > SANDBOX_LIMITS.maxMessages) sent.splice(0, sent.length - SANDBOX_LIMITS.maxMessages)
        // Pictures go as DingTalk sends them: alone, or inside rich text with the typed text.
        if (contentType.startsWith("image/")) {
          if (caption === "") emulator.pushMedia("picture", data, { ...who, contentType })
          else emulator.pushRichText([caption, { picture: data, contentType }], who)
        } else {
          emulator.pushMedia("file", data, { ...who, contentType, fileName })
        }
        return json({ ok: true })
      }
      if (request.method === "POST" && url.pathname === "/api/chats") {
        const body = await readJson()
        if (body === undefined) return
        if (chats.length >= SANDBOX_LIMITS.maxChats) return json({ error: `At most ${SANDBOX_LIMITS.maxChats} chats; restart the sandbox for a fresh set.` }, 429)
        const { type } = body
        const n = chats.length + 1
        const chat: Chat = type === "2" ? { id: `cid-sandbox-group-${n}`, type: "2", title: `Group ${n}` } : { id: `cid-sandbox-${n}`, type: "1", title: `Chat ${n}` }
        chats.push(chat)
        return json(chat)
      }
      if (request.method === "POST" && url.pathname === "/api/send") {
        const body = await readJson()
        if (body === undefined) return
        const { conversationId, sender, text } = body
        const chat = chats.find((c) => c.id === conversationId)
        if (chat === undefined || typeof text !== "string" || text.trim() === "") {
          response.writeHead(400, { "content-type": "application/json" })
          return response.end(JSON.stringify({ error: "unknown chat or empty text" }))
        }
        const name = typeof sender === "string" && sender.trim() !== "" ? sender.trim() : "Sandbox user"
        sent.push({ conversationId: chat.id, sender: name, text, at: Date.now() })
        if (sent.length > SANDBOX_LIMITS.maxMessages) sent.splice(0, sent.length - SANDBOX_LIMITS.maxMessages)
        emulator.pushMessage({
          conversationId: chat.id, conversationType: chat.type, text, senderNick: name,
          senderStaffId: `sandbox-${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`,
          ...(chat.type === "2" ? { conversationTitle: chat.title } : {}),
        })
        return json({ ok: true })
      }
      response.writeHead(404)
      response.end()
    }

    const server = yield* Effect.acquireRelease(
      Effect.sync(() => http.createServer((request, response) => {
        handle(request, response).catch(() => {
          if (!response.headersSent) response.writeHead(500)
          response.end()
        })
      })),
      (server) => Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
    )
    const port = yield* Effect.promise(() => listenOn(server, options.host, options.port).catch(() => listenOn(server, options.host, 0)))
    boundPort = port
    yield* Console.error([
      "",
      "  Sandbox mode: DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET are not set, so a local DingTalk emulator",
      "  plays the robot and the real pipeline answers through it.",
      `  Chat page:   http://${options.host}:${port}`,
      `  OpenCode:    ${opencode.url} (start it with "opencode serve --port 4096")`,
      "  Real robot:  set DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET (see .env.example) and start again.",
      "",
    ].join("\n"))
  }))
