/**
 * The application: configuration and logging from the environment, the bridge, and MCP over stdio.
 * Runs until the MCP client leaves, a signal arrives, or the DingTalk connection fails for good.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Layer } from "effect"
import { configErrorReport } from "../core/ConfigErrorReport.js"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { PersistentBridgeLayer } from "./BridgeLayer.js"
import * as Logging from "../core/Logging.js"
import { McpStdio } from "../mcp/McpServer.js"
import { runAsOwnerOrFollower } from "./Instances.js"
import { SandboxBridgeLayer, sandboxConfigLayer, sandboxRequested } from "./Sandbox.js"

// A .env in the working directory fills in what the real environment does not set.
try {
  process.loadEnvFile()
} catch {
  // no .env: fine
}

const sandbox = sandboxRequested(process.argv, process.env)

const LoggingLayer = Layer.unwrap(BridgeConfig.use((settings) => Effect.succeed(Logging.layer(settings.logging))))

const AppLayer = McpStdio.layer.pipe(Layer.provideMerge(LoggingLayer), Layer.provideMerge(sandbox ? sandboxConfigLayer : BridgeConfig.layer))

const fail = (line: string, code: number) => Effect.sync(() => {
  process.stderr.write(`${line}\n`)
  process.exitCode = code
})

const program = Effect.gen(function*() {
  const mcp = yield* McpStdio
  yield* Effect.raceFirst(runAsOwnerOrFollower(sandbox ? SandboxBridgeLayer : PersistentBridgeLayer, mcp.route), mcp.closed)
}).pipe(
  Effect.provide(AppLayer),
  Effect.catchTags({
    ConfigError: (error) => fail(configErrorReport(error), 2),
    CredentialsRejected: (error) => fail(error.message, 2),
    ReconnectExhausted: (error) => fail(error.message, 1),
    StateDirUnusable: (error) => fail(error.message, 1),
  })
)

// A shutdown asked for by SIGINT/SIGTERM that completed cleanly is a success, not an error (130).
NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? 1 : Number(process.exitCode ?? 0)),
})
