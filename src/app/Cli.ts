/**
 * The command line: `serve` (the default: the bridge plus MCP over stdio), `sandbox`, `doctor`, `pair <code>`,
 * `--help`, `--version`. Parsing only; `App.ts` acts on the result.
 */

/** What the command line asks for. */
export type CliCommand =
  | { readonly _tag: "Serve"; readonly sandbox: boolean }
  | { readonly _tag: "Doctor" }
  | { readonly _tag: "Pair"; readonly code: string }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Version" }
  | { readonly _tag: "Invalid"; readonly message: string }

/** The parsed command line. */
export interface CliOptions {
  readonly command: CliCommand
  /** `--env-file PATH`: an extra `.env` file to read. */
  readonly envFile: string | undefined
}

/** Exit codes of every command (the README lists them too). */
export const ExitCode = {
  ok: 0,
  /** The DingTalk connection could not be kept (reconnects exhausted), or a pairing code was unknown. */
  failure: 1,
  /** A configuration or usage error: one line names it. */
  usage: 2,
} as const

/** Parses `process.argv.slice(2)`. */
export const parseCli = (args: ReadonlyArray<string>): CliOptions => {
  let envFile: string | undefined
  const positional: Array<string> = []
  let sandboxFlag = false
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!
    if (arg === "--help" || arg === "-h") return { command: { _tag: "Help" }, envFile }
    if (arg === "--version" || arg === "-v") return { command: { _tag: "Version" }, envFile }
    if (arg === "--sandbox") sandboxFlag = true
    else if (arg === "--env-file") {
      const value = args[++index]
      if (value === undefined || value.startsWith("-")) return { command: { _tag: "Invalid", message: "--env-file needs a path" }, envFile }
      envFile = value
    } else if (arg.startsWith("--env-file=")) envFile = arg.slice("--env-file=".length)
    else if (arg.startsWith("-")) return { command: { _tag: "Invalid", message: `unknown option ${arg}` }, envFile }
    else positional.push(arg)
  }
  const [name, ...rest] = positional
  switch (name) {
    case undefined:
    case "serve":
      return rest.length === 0 ? { command: { _tag: "Serve", sandbox: sandboxFlag }, envFile } : tooMany(name ?? "serve", envFile)
    case "sandbox":
      return rest.length === 0 ? { command: { _tag: "Serve", sandbox: true }, envFile } : tooMany(name, envFile)
    case "doctor":
      return rest.length === 0 ? { command: { _tag: "Doctor" }, envFile } : tooMany(name, envFile)
    case "pair":
      return rest.length === 1 ? { command: { _tag: "Pair", code: rest[0]! }, envFile } : { command: { _tag: "Invalid", message: "usage: dingtalk-mcp-server pair <code>" }, envFile }
    default:
      return { command: { _tag: "Invalid", message: `unknown command "${name}"` }, envFile }
  }
}

const tooMany = (name: string, envFile: string | undefined): CliOptions => ({ command: { _tag: "Invalid", message: `"${name}" takes no arguments` }, envFile })

/** `--help`. */
export const helpText = (version: string): string => `dingtalk-mcp-server ${version}
Talk to an OpenCode coding agent from DingTalk, and let OpenCode talk back through MCP tools.
Supports Node.js 22 (Node 20 still runs it, unsupported; older Node is refused).

Usage: dingtalk-mcp-server [command] [--env-file PATH]

Commands:
  serve          (default) run the bridge and MCP over stdio; without DingTalk credentials: the sandbox
  sandbox        run against a local DingTalk emulator with a chat page (same as --sandbox)
  doctor         check the set-up step by step: credentials, Stream, cards, OpenCode, MCP, state dir
  pair <code>    approve a DingTalk user who got a pairing code from the robot

Options:
  --env-file PATH  read settings from this file (besides the .env in the package folder)
  --help, -h       this text
  --version, -v    the version

Exit codes:
  0   done (or shut down cleanly)
  1   the DingTalk connection failed for good, or an unknown/expired pairing code
  2   configuration or usage error (one line names it)
  3–12  doctor: the first failing check (3 configuration, 4 credentials, 5 Stream connection,
        6 card permission, 7 OpenCode unreachable, 8 OpenCode credentials, 9 model, 10 MCP stdio,
        11 state directory, 12 Node.js version)

Configuration is read from the environment: see the README (DINGTALK_CLIENT_ID, DINGTALK_CLIENT_SECRET, …).
`
