/**
 * Logging to stderr only: in stdio mode stdout carries JSON-RPC and nothing else.
 */
import { Console, Layer, Logger, LogLevel, References } from "effect"
import { stderrConsole } from "./StderrConsole.js"

/** Log format: `pretty` for people, `json` for log collectors. */
export type LogFormat = "pretty" | "json"

/** A logger layer that writes every line to stderr at the given minimum level. */
export const layer = (options: { readonly format: LogFormat; readonly level: LogLevel.LogLevel }) =>
  Layer.mergeAll(
    Logger.layer([
      options.format === "json"
        ? Logger.withConsoleError(Logger.formatJson)
        : Logger.consolePretty({ colors: process.stderr.isTTY === true })
    ]),
    Layer.succeed(Logger.LogToStderr, true),
    // Batched stderr writes: a log line must not hold up a message on its way to OpenCode.
    Layer.succeed(Console.Console, stderrConsole()),
    Layer.succeed(References.MinimumLogLevel, options.level)
  )
