#!/usr/bin/env node
/**
 * The seed README's design, built literally as a baseline for `npm run bench` (not part of the product):
 * the `dingtalk-stream` DWClient receives robot messages, an `lru-cache` drops redeliveries, a
 * `p-queue` (concurrency 3) runs turns, and `got` with keep-alive agents calls OpenCode's
 * `POST /session/:id/message` and posts the answer to the message's sessionWebhook. It also answers
 * MCP over stdio (the MCP SDK), so its cold start to `initialize` compares with ours.
 *
 * Environment: DINGTALK_CLIENT_ID, DINGTALK_CLIENT_SECRET, DINGTALK_API_URL (the gateway's base URL,
 * the emulator in the bench), OPENCODE_SERVER_URL. Plain JavaScript: it runs on the machine's Node.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { DWClient, TOPIC_ROBOT } from "dingtalk-stream"
import got from "got"
import { LRUCache } from "lru-cache"
import http from "node:http"
import https from "node:https"
import PQueue from "p-queue"

// stdout is MCP's; the SDK prints "connect success" with console.info.
console.info = console.log = (...args) => process.stderr.write(`${args.join(" ")}\n`)

const env = process.env
const apiUrl = env.DINGTALK_API_URL ?? "https://api.dingtalk.com"
const opencodeUrl = env.OPENCODE_SERVER_URL ?? "http://127.0.0.1:4096"

const client = got.extend({
  agent: { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) },
  timeout: { request: 600_000 },
  retry: { limit: 0 },
})
const seen = new LRUCache({ max: 10_000, ttl: 10 * 60_000 })
const queue = new PQueue({ concurrency: 3 })
const sessions = new Map()

/** The DWClient, with the gateway at DINGTALK_API_URL instead of api.dingtalk.com. */
class Client extends DWClient {
  async getEndpoint() {
    const body = await client.post(`${apiUrl}/v1.0/gateway/connections/open`, {
      json: { clientId: this.config.clientId, clientSecret: this.config.clientSecret, ua: "seed", subscriptions: this.config.subscriptions },
    }).json()
    this.dw_url = `${body.endpoint}?ticket=${body.ticket}`
    return this
  }
}

const sessionFor = async (conversationId) => {
  let id = sessions.get(conversationId)
  if (id === undefined) {
    id = (await client.post(`${opencodeUrl}/session`, { json: { title: `DingTalk [${conversationId}]` } }).json()).id
    sessions.set(conversationId, id)
  }
  return id
}

const turn = async (message) => {
  const text = String(message.text?.content ?? "").trim()
  const sessionId = await sessionFor(message.conversationId)
  const answer = await client.post(`${opencodeUrl}/session/${sessionId}/message`, { json: { parts: [{ type: "text", text }] } }).json()
  const reply = answer.parts.filter((p) => p.type === "text").map((p) => p.text).join("\n")
  await client.post(message.sessionWebhook, { json: { msgtype: "markdown", markdown: { title: reply.split("\n")[0].slice(0, 20), text: reply } } })
}

const dingtalk = new Client({ clientId: env.DINGTALK_CLIENT_ID, clientSecret: env.DINGTALK_CLIENT_SECRET, keepAlive: true })
dingtalk.registerCallbackListener(TOPIC_ROBOT, (frame) => {
  dingtalk.socketCallBackResponse(frame.headers.messageId, null)
  const message = JSON.parse(frame.data)
  if (seen.has(message.msgId)) return
  seen.set(message.msgId, true)
  queue.add(() => turn(message)).catch((error) => process.stderr.write(`turn failed: ${error.message}\n`))
})
dingtalk.connect()

const mcp = new Server({ name: "seed-design", version: "0.0.0" }, { capabilities: { tools: {} } })
mcp.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }))
await mcp.connect(new StdioServerTransport())
