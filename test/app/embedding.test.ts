// The README's embedding example, run against the emulator and the fake OpenCode.
import { describe, expect, it } from "vitest"
import { Effect, Fiber, Layer } from "effect"
import { Bridge, BridgeConfig, BridgeLayer, Logging } from "../../src/index.js"
import { startDingTalkEmulator, startFakeOpenCode } from "../../src/testing/index.js"

describe("embedding the bridge in another Effect app", () => {
  it("runs with the app's own configuration and logging layers", async () => {
    const emulator = await startDingTalkEmulator()
    const opencode = await startFakeOpenCode()
    const Config = BridgeConfig.layerFrom({
      DINGTALK_CLIENT_ID: emulator.clientId,
      DINGTALK_CLIENT_SECRET: emulator.clientSecret,
      DINGTALK_API_URL: emulator.url,
      OPENCODE_SERVER_URL: opencode.url,
      // The emulator's default sender.
      DINGTALK_ACCESS: "allowlist",
      DINGTALK_ALLOWED_USERS: "staff-1",
    })
    const program = Bridge.use((bridge) => bridge.run).pipe(
      Effect.provide(BridgeLayer.pipe(Layer.provide(Config))),
      Effect.provide(Logging.layer({ format: "json", level: "None" }))
    )
    const fiber = Effect.runFork(program)
    try {
      await emulator.waitForConnections(1)
      emulator.pushMessage({ text: "embedded", conversationId: "cid-embed" })
      const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-embed" })
      expect(reply!.text).toBe("ECHO: embedded")
    } finally {
      await Effect.runPromise(Fiber.interrupt(fiber))
      await emulator.close()
      await opencode.close()
    }
  })
})
