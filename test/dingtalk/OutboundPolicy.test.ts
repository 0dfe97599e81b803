import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { apiUrlWarning, checkGatewayEndpoint, checkWebhook, describeUrl } from "../../src/dingtalk/OutboundPolicy.js"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"
import { startBridge, testEnv } from "../support/bridge.js"

const ok = (result: Result.Result<unknown, string>) => Result.isSuccess(result)

describe("outbound hosts", () => {
  it("webhooks: https to DingTalk's hosts, or exactly the origin of DINGTALK_API_URL", () => {
    const api = "http://127.0.0.1:4000"
    assert.isTrue(ok(checkWebhook("https://oapi.dingtalk.com/robot/sendBySession?session=x", "https://api.dingtalk.com")))
    assert.isTrue(ok(checkWebhook("https://api.dingtalk.com/robot/sendBySession?session=x", api)))
    assert.isTrue(ok(checkWebhook("http://127.0.0.1:4000/robot/sendBySession?session=x", api)))
    assert.isFalse(ok(checkWebhook("http://oapi.dingtalk.com/robot/sendBySession", api)), "plain http")
    assert.isFalse(ok(checkWebhook("https://oapi.dingtalk.com:8443/robot", api)), "another port")
    assert.isFalse(ok(checkWebhook("https://oapi.dingtalk.com.evil.example/robot", api)), "look-alike host")
    assert.isFalse(ok(checkWebhook("http://127.0.0.1:4001/robot", api)), "another local port")
    assert.isFalse(ok(checkWebhook("https://127.0.0.1:4000/robot", api)), "another scheme")
    assert.isFalse(ok(checkWebhook("https://user:pw@oapi.dingtalk.com/robot", api)), "user info")
    assert.isFalse(ok(checkWebhook("file:///etc/passwd", api)))
    assert.isFalse(ok(checkWebhook("not a url", api)))
  })

  it("gateway endpoints: wss anywhere, ws only on loopback", () => {
    assert.isTrue(ok(checkGatewayEndpoint("wss://wss-open-connection.dingtalk.com:443/connect")))
    assert.isTrue(ok(checkGatewayEndpoint("ws://127.0.0.1:5000/connect")))
    assert.isTrue(ok(checkGatewayEndpoint("ws://localhost:5000/connect")))
    assert.isFalse(ok(checkGatewayEndpoint("ws://10.0.0.5:5000/connect")))
    assert.isFalse(ok(checkGatewayEndpoint("http://127.0.0.1:5000/connect")))
  })

  it("DINGTALK_API_URL over plain http off this machine is warned about", () => {
    assert.isUndefined(apiUrlWarning("https://api.dingtalk.com"))
    assert.isUndefined(apiUrlWarning("http://127.0.0.1:4000"))
    assert.match(apiUrlWarning("http://proxy.example:8080/x?k=v") ?? "", /^DINGTALK_API_URL http:\/\/proxy\.example:8080\/x is not https/)
  })

  it("a logged URL never carries its query or user info", () => {
    assert.strictEqual(describeUrl("https://u:p@oapi.dingtalk.com/robot/sendBySession?session=SECRET"), "https://oapi.dingtalk.com/robot/sendBySession")
  })

  it.live("a frame whose sessionWebhook names another local port is never contacted; the reply goes through the OpenAPI", () =>
    Effect.gen(function*() {
      let contacted = 0
      const other = yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<http.Server>((resolve) => {
          const server = http.createServer((_, response) => {
            contacted++
            response.end('{"errcode":0}')
          })
          server.listen(0, "127.0.0.1", () => resolve(server))
        })),
        (server) => Effect.promise(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
      )
      const otherPort = (other.address() as AddressInfo).port
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      yield* startBridge(testEnv(emulator, opencode.url, { DINGTALK_ACCESS: "open" }))
      yield* Effect.promise(() => emulator.waitForConnections(1))
      emulator.pushRaw(JSON.stringify({
        conversationId: "cid-hijack", conversationType: "1", msgId: "msg-hijack", msgtype: "text", text: { content: "where do you reply?" },
        senderNick: "Mallory", senderStaffId: "staff-m", senderId: "$:LWCP_v1:$m", chatbotUserId: "$:LWCP_v1:$bot", robotCode: emulator.robotCode,
        sessionWebhook: `http://127.0.0.1:${otherPort}/robot/sendBySession?session=stolen`, sessionWebhookExpiredTime: Date.now() + 3_600_000,
        createAt: Date.now(),
      }))
      const [reply] = yield* Effect.promise(() => emulator.waitForReplies(1, { timeoutMs: 10_000 }))
      assert.strictEqual(reply!.route, "openapi-o2o")
      assert.strictEqual(reply!.text, "ECHO: where do you reply?")
      assert.strictEqual(contacted, 0)
    }).pipe(Effect.scoped))
})
