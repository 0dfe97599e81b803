/**
 * Whether to run in sandbox mode, and its configuration: small, so the CLI decides without loading
 * the emulator (`Sandbox.ts` is imported only when it is needed).
 */
import { ConfigProvider, Layer } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"

/** Credentials of the emulated robot: fixed, so every sandbox instance agrees on the owner; the page is local, so access is open. */
const SANDBOX_CREDENTIALS = { DINGTALK_CLIENT_ID: "sandbox-robot", DINGTALK_CLIENT_SECRET: "sandbox-secret", DINGTALK_ACCESS: "open" }

/** Sandbox when asked for, or when neither credential is set (only one set is a configuration error). */
export const sandboxRequested = (asked: boolean, env: NodeJS.ProcessEnv): boolean =>
  asked || ((env.DINGTALK_CLIENT_ID ?? "") === "" && (env.DINGTALK_CLIENT_SECRET ?? "") === "")

/** The configuration in sandbox mode: the emulated robot's credentials, everything else from the environment. */
export const sandboxConfigLayer = BridgeConfig.layer.pipe(
  Layer.provide(ConfigProvider.layer(ConfigProvider.orElse(ConfigProvider.fromUnknown(SANDBOX_CREDENTIALS), ConfigProvider.fromEnv())))
)
