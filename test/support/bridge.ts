/**
 * Runs the real bridge in-process against the DingTalk emulator and a fake (or real) OpenCode.
 */
import { Effect, Layer, Logger, References, Scope } from "effect"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { BridgeLayer, PersistentBridgeLayer } from "../../src/app/BridgeLayer.js"
import { Bridge } from "../../src/pipeline/Bridge.js"
import { DingTalkEmulatorScoped, type DingTalkEmulatorOptions } from "../../src/emulator/DingTalkEmulator.js"
import { FakeOpenCodeScoped, type FakeOpenCodeOptions } from "../../src/testing/FakeOpenCode.js"

/** Environment for a bridge that talks to local test servers only; access is open unless `extra` says otherwise. */
export const testEnv = (emulator: { url: string; clientId: string; clientSecret: string }, opencodeUrl: string, extra: Record<string, string> = {}) => ({
  DINGTALK_CLIENT_ID: emulator.clientId,
  DINGTALK_CLIENT_SECRET: emulator.clientSecret,
  DINGTALK_API_URL: emulator.url,
  OPENCODE_SERVER_URL: opencodeUrl,
  DINGTALK_RECONNECT_JITTER: "false",
  DINGTALK_RECONNECT_BASE_MS: "200",
  DINGTALK_ACCESS: "open",
  ...extra,
})

/** Quiet logs unless TEST_LOGS is set. */
const TestLogging = Layer.mergeAll(
  Logger.layer([Logger.withConsoleError(Logger.formatLogFmt)]),
  Layer.succeed(References.MinimumLogLevel, process.env.TEST_LOGS ? "Debug" : "None")
)

/** Builds the bridge's services in the current scope and starts the pipeline; returns the services. */
export const startBridge = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const context = yield* Layer.buildWithScope(BridgeLayer.pipe(Layer.provideMerge(BridgeConfig.layerFrom(env)), Layer.provideMerge(TestLogging)), scope)
    yield* Effect.forkIn(Effect.provideContext(Bridge.use((bridge) => bridge.run), context), scope)
    return context
  })

/** The same with the CLI's persistence under `BRIDGE_STATE_DIR` (conversations, chat choices): for restart tests. */
export const startPersistentBridge = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const context = yield* Layer.buildWithScope(PersistentBridgeLayer.pipe(Layer.provideMerge(BridgeConfig.layerFrom(env)), Layer.provideMerge(TestLogging)), scope)
    yield* Effect.forkIn(Effect.provideContext(Bridge.use((bridge) => bridge.run), context), scope)
    return context
  })

/** The everyday setup: the DingTalk emulator, a fake OpenCode and the bridge between them, connected once. */
export const bridgeFixture = (options: {
  readonly env?: Record<string, string>
  readonly emulator?: DingTalkEmulatorOptions
  readonly opencode?: FakeOpenCodeOptions
} = {}) =>
  Effect.gen(function*() {
    const emulator = yield* DingTalkEmulatorScoped(options.emulator)
    const opencode = yield* FakeOpenCodeScoped(options.opencode)
    const context = yield* startBridge(testEnv(emulator, opencode.url, options.env))
    yield* Effect.promise(() => emulator.waitForConnections(1))
    return { emulator, opencode, context }
  })

/** Polls until `check` holds (real time), failing with `what` after the timeout. */
export const eventually = <A>(what: string, check: () => A | undefined | false, timeoutMs = 5_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = check()
      if (value !== undefined && value !== false) return value
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })
