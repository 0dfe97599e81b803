/**
 * The application: configuration and logging from the environment, the bridge, and MCP over stdio.
 * Runs until the MCP client leaves, a signal arrives, or the DingTalk connection fails for good.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Layer, Result } from "effect"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { loadEnvFiles, packageDirOf } from "../core/EnvFile.js"
import { configErrorReport } from "../core/ConfigErrorReport.js"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { PersistentBridgeLayer } from "./BridgeLayer.js"
import * as Logging from "../core/Logging.js"
import { McpStdio } from "../mcp/McpServer.js"
import { runAsOwnerOrFollower } from "./Instances.js"
import { SandboxBridgeLayer, sandboxConfigLayer, sandboxRequested } from "./Sandbox.js"

// The package directory's .env and --env-file fill in what the real environment does not set; never the
// working directory's (when OpenCode launches us, that is someone's project).
const envLoad = loadEnvFiles({ argv: process.argv, env: process.env, packageDir: packageDirOf(path.dirname(fileURLToPath(import.meta.url))) })
if (Result.isSuccess(envLoad)) for (const warning of envLoad.success.warnings) process.stderr.write(`${warning}\n`)

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
    StateDirUnusable: (error) => fail(error.message, 2),
    ControlSocketFailed: (error) => fail(error.message, 2),
  })
)

// A shutdown asked for by SIGINT/SIGTERM that completed cleanly is a success, not an error (130).
// A bad .env stops the start before anything reads the configuration.
NodeRuntime.runMain(Result.isFailure(envLoad) ? fail(envLoad.failure.message, 2) : program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? 1 : Number(process.exitCode ?? 0)),
})
