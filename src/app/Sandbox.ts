/**
 * Sandbox mode: without DingTalk credentials (or with `--sandbox`) the process starts the DingTalk
 * emulator from `src/testing` and runs the normal pipeline against it, with a chat page to drive it.
 */
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { BridgeLayer } from "./BridgeLayer.js"
import { DingTalkEmulatorScoped } from "../emulator/DingTalkEmulator.js"
import { chatPageLayer } from "./ChatPage.js"

/** Credentials of the emulated robot: fixed, so every sandbox instance agrees on the owner; the page is local, so access is open. */
const SANDBOX_CREDENTIALS = { DINGTALK_CLIENT_ID: "sandbox-robot", DINGTALK_CLIENT_SECRET: "sandbox-secret", DINGTALK_ACCESS: "open" }

/** Sandbox when asked for, or when neither credential is set (only one set is a configuration error). */
export const sandboxRequested = (asked: boolean, env: NodeJS.ProcessEnv): boolean =>
  asked || ((env.DINGTALK_CLIENT_ID ?? "") === "" && (env.DINGTALK_CLIENT_SECRET ?? "") === "")

/** The configuration in sandbox mode: the emulated robot's credentials, everything else from the environment. */
export const sandboxConfigLayer = BridgeConfig.layer.pipe(
  Layer.provide(ConfigProvider.layer(ConfigProvider.orElse(ConfigProvider.fromUnknown(SANDBOX_CREDENTIALS), ConfigProvider.fromEnv())))
)

/** The bridge against a fresh emulator, plus the chat page; both live as long as this process owns the robot. */
export const SandboxBridgeLayer = Layer.unwrap(Effect.gen(function*() {
  const settings = yield* BridgeConfig
  const emulator = yield* DingTalkEmulatorScoped({ clientId: settings.dingtalk.clientId, clientSecret: Redacted.value(settings.dingtalk.clientSecret) })
  const config = Layer.succeed(BridgeConfig, { ...settings, dingtalk: { ...settings.dingtalk, apiUrl: emulator.url }, media: { ...settings.media, oapiUrl: emulator.url } })
  return chatPageLayer(emulator, { host: "127.0.0.1", port: settings.sandbox.port }).pipe(Layer.provideMerge(BridgeLayer), Layer.provideMerge(config))
}))
