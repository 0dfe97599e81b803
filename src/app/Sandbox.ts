/**
 * Sandbox mode: without DingTalk credentials (or with `--sandbox`) the process starts the DingTalk
 * emulator from `src/testing` and runs the normal pipeline against it, with a chat page to drive it.
 */
import { Effect, Layer, Redacted } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { BridgeLayer } from "./BridgeLayer.js"
import { DingTalkEmulatorScoped } from "../emulator/DingTalkEmulator.js"
import { chatPageLayer } from "./ChatPage.js"

/** The bridge against a fresh emulator, plus the chat page; both live as long as this process owns the robot. */
export const SandboxBridgeLayer = Layer.unwrap(Effect.gen(function*() {
  const settings = yield* BridgeConfig
  const emulator = yield* DingTalkEmulatorScoped({ clientId: settings.dingtalk.clientId, clientSecret: Redacted.value(settings.dingtalk.clientSecret) })
  const config = Layer.succeed(BridgeConfig, { ...settings, dingtalk: { ...settings.dingtalk, apiUrl: emulator.url }, media: { ...settings.media, oapiUrl: emulator.url } })
  return chatPageLayer(emulator, { host: "127.0.0.1", port: settings.sandbox.port }).pipe(Layer.provideMerge(BridgeLayer), Layer.provideMerge(config))
}))
