/**
 * The application: configuration and logging from the environment, the bridge, and MCP over stdio.
 * Runs until the MCP client leaves, a signal arrives, or the DingTalk connection fails for good.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Layer, References, Result } from "effect"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { loadEnvFiles, packageDirOf } from "../core/EnvFile.js"
import { configErrorReport, databaseUnusable } from "../core/ConfigErrorReport.js"
import { BridgeConfig, BridgeConfigSchema } from "../core/BridgeConfig.js"
import { PersistentBridgeLayer } from "./BridgeLayer.js"
import * as Logging from "../core/Logging.js"
import { McpStdio } from "../mcp/McpServer.js"
import { VERSION } from "../core/Version.js"
import { ExitCode, helpText, parseCli } from "./Cli.js"
import { runDoctor } from "./Doctor.js"
import { startupSummary } from "./StartupSummary.js"
import { runAsOwnerOrFollower } from "./Instances.js"
import { pairCommand } from "./PairCommand.js"
import { sandboxConfigLayer, sandboxRequested } from "./SandboxConfig.js"

// The package directory's .env and --env-file fill in what the real environment does not set; never the
// working directory's (when OpenCode launches us, that is someone's project).
const cli = parseCli(process.argv.slice(2))
const envLoad = loadEnvFiles({ envFile: cli.envFile, env: process.env, packageDir: packageDirOf(path.dirname(fileURLToPath(import.meta.url))) })
if (Result.isSuccess(envLoad)) for (const warning of envLoad.success.warnings) process.stderr.write(`${warning}\n`)

const LoggingLayer = Layer.unwrap(BridgeConfig.use((settings) =>
  Effect.succeed(Layer.mergeAll(
    Logging.layer(settings.logging),
    // The CLI exports no traces, so it records no spans (measured: ~0.5 ms of CPU per message for span
    // objects, random IDs and call-site stacks). A program embedding the layers with a Tracer gets them all.
    Layer.succeed(References.TracerEnabled, false)
  ))
))

const fail = (line: string, code: number) => Effect.sync(() => {
  process.stderr.write(`${line}\n`)
  process.exitCode = code
})

/** The bridge (or the sandbox) with MCP over stdio: the default command. */
const serve = (sandbox: boolean) => Effect.gen(function*() {
  const mcp = yield* McpStdio
  const summary = startupSummary(yield* BridgeConfig, sandbox)
  // The emulator and the chat page are loaded only in sandbox mode.
  const bridge = sandbox ? (yield* Effect.promise(() => import("./Sandbox.js"))).SandboxBridgeLayer : PersistentBridgeLayer
  yield* Effect.raceFirst(runAsOwnerOrFollower(bridge, mcp.route, summary), mcp.closed)
}).pipe(
  Effect.provide(McpStdio.layer.pipe(Layer.provideMerge(LoggingLayer), Layer.provideMerge(sandbox ? sandboxConfigLayer : BridgeConfig.layer))),
  Effect.catchTags({
    ConfigError: (error) => fail(configErrorReport(error), 2),
    CredentialsRejected: (error) => fail(error.message, 2),
    ReconnectExhausted: (error) => fail(error.message, 1),
    // Both core/StateDir's and Conversations' StateDirUnusable: a start-up configuration problem.
    StateDirUnusable: (error) => fail(error.message, 2),
    ControlSocketFailed: (error) => fail(error.message, 2),
    // Cluster mode: the database or the runner port (the URL is never printed: it may hold a password).
    SqlError: (error) => fail(databaseUnusable(error.message), 1),
    SocketServerError: (error) => fail(`Cluster mode: cannot listen on BRIDGE_RUNNER_PORT (${error.message})`, 1),
  })
)

/** `doctor`: checks in order, one line each on stdout. */
const doctor = Effect.gen(function*() {
  const config = Effect.gen(function*() { return yield* BridgeConfigSchema }).pipe(Effect.mapError(configErrorReport))
  process.exitCode = yield* runDoctor(config, (text) => process.stdout.write(text))
})

const program = (() => {
  switch (cli.command._tag) {
    case "Help":
      return Effect.sync(() => process.stdout.write(helpText(VERSION)))
    case "Version":
      return Effect.sync(() => process.stdout.write(`${VERSION}\n`))
    case "Invalid":
      return fail(`dingtalk-mcp-server: ${cli.command.message}. Run "dingtalk-mcp-server --help".`, ExitCode.usage)
    case "Doctor":
      return doctor
    case "Pair":
      return pairCommand(cli.command.code)
    case "Serve":
      return serve(sandboxRequested(cli.command.sandbox, process.env))
  }
})()

// A shutdown asked for by SIGINT/SIGTERM that completed cleanly is a success, not an error (130).
// A bad .env stops the start before anything reads the configuration.
const informational = cli.command._tag === "Help" || cli.command._tag === "Version"
// Anything else that ends the program (a layer that failed to build, a defect) is said on stderr, not swallowed.
const reportUnexpected = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.tapCause((cause) =>
    Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.sync(() => process.stderr.write(`dingtalk-mcp-server stopped: ${Cause.pretty(cause)}\n`))
  ))
NodeRuntime.runMain(reportUnexpected(Result.isFailure(envLoad) && !informational ? fail(envLoad.failure.message, 2) : program), {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? 1 : Number(process.exitCode ?? 0)),
})
