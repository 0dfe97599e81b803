/**
 * `.env` files, read strictly and only from places the operator chose: the package directory (the folder
 * of the package.json above `dist/`) and `--env-file PATH`. Never the working directory: when OpenCode
 * launches the server that is the project being worked on, and a cloned repository's `.env` must not
 * redirect the bridge or drop its allowlist. A line the parser does not understand is an error, not a skip.
 */
import { Result, Schema } from "effect"
import { existsSync, readFileSync, statSync } from "node:fs"
import path from "node:path"
import { CONFIG_VARIABLES } from "./BridgeConfig.js"

/** A `.env` file the bridge will not start with: names the file and the line. */
export class EnvFileError extends Schema.TaggedError<EnvFileError>()("EnvFileError", {
  file: Schema.String,
  line: Schema.Number,
  reason: Schema.String,
}) {
  override get message() {
    return this.line > 0
      ? `Configuration error: ${this.file} line ${this.line}: ${this.reason}.`
      : `Configuration error: ${this.file}: ${this.reason}.`
  }
}

/** Prefixes of the bridge's own variables: an unknown name with one of them is a typo, not someone else's setting. */
const OWN_PREFIXES = ["DINGTALK_", "BRIDGE_", "MCP_", "OPENCODE_"]
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/
const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", "\\": "\\", '"': '"' }

/** The value after `=`: bare (trimmed, ` #` starts a comment), 'single' (literal) or "double" (\n \t \\ \" escapes). */
const parseValue = (raw: string): Result.Result<string, string> => {
  const text = raw.trim()
  const quote = text[0]
  if (quote !== '"' && quote !== "'") {
    const bare = text.replace(/(^|\s)#.*$/, "").trim()
    return /["']/.test(bare[0] ?? "") ? Result.fail("unbalanced quote") : Result.succeed(bare)
  }
  let value = ""
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!
    if (c === quote) {
      const rest = text.slice(i + 1).trim()
      return rest === "" || rest.startsWith("#") ? Result.succeed(value) : Result.fail(`unexpected text after the closing quote`)
    }
    if (quote === '"' && c === "\\" && i + 1 < text.length) {
      const escaped = ESCAPES[text[i + 1]!]
      if (escaped !== undefined) {
        value += escaped
        i++
        continue
      }
    }
    value += c
  }
  return Result.fail("the quote is not closed on this line")
}

/** Parses a `.env` text: `KEY=value` lines, `#` comments, blank lines, optional quotes, a leading UTF-8 BOM. */
export const parseEnvFile = (text: string, file: string): Result.Result<Record<string, string>, EnvFileError> => {
  const values: Record<string, string> = {}
  const lines = text.replace(/^\uFEFF/, "").split("\n")
  for (const [index, rawLine] of lines.entries()) {
    const line = rawLine.replace(/\r$/, "")
    const fail = (reason: string) => Result.fail(new EnvFileError({ file, line: index + 1, reason }))
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue
    const equals = line.indexOf("=")
    if (equals < 0) return fail("expected KEY=value")
    const key = line.slice(0, equals).trim()
    if (!KEY.test(key)) return fail(`expected KEY=value, and "${key.slice(0, 40)}" is not a variable name`)
    if (OWN_PREFIXES.some((prefix) => key.startsWith(prefix)) && !CONFIG_VARIABLES.includes(key)) {
      return fail(`unknown variable ${key} (see the README's configuration table for the names)`)
    }
    if (key in values) return fail(`${key} is set twice`)
    const value = parseValue(line.slice(equals + 1))
    if (Result.isFailure(value)) return fail(`${key}: ${value.failure}`)
    values[key] = value.success
  }
  return Result.succeed(values)
}

/** The folder of the first package.json at or above `from` (the package directory when `from` is in `dist/`). */
export const packageDirOf = (from: string): string | undefined => {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir
    if (path.dirname(dir) === dir) return undefined
  }
}

/** What loading found: the files read, and warnings to print (e.g. a file others can read). */
export interface EnvLoad {
  readonly files: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
}

const readOne = (file: string): Result.Result<{ values: Record<string, string>; warning: string | undefined }, EnvFileError> => {
  let text: string
  let mode: number
  try {
    mode = statSync(file).mode
    text = readFileSync(file, "utf8")
  } catch (error) {
    return Result.fail(new EnvFileError({ file, line: 0, reason: `cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})` }))
  }
  const readers = [(mode & 0o040) !== 0 ? "its group" : "", (mode & 0o004) !== 0 ? "other users" : ""].filter((who) => who !== "")
  const warning = readers.length > 0
    ? `Warning: ${file} is readable by ${readers.join(" and ")} and may hold credentials; run: chmod 600 ${file}`
    : undefined
  return Result.map(parseEnvFile(text, file), (values) => ({ values, warning }))
}

/**
 * Loads the package directory's `.env` (if there is one) and `--env-file PATH` (which must exist) into `env`,
 * never overriding a variable the real environment sets; `--env-file` wins over the package `.env`.
 */
export const loadEnvFiles = (options: {
  /** The `--env-file` argument, if given. */
  readonly envFile: string | undefined
  readonly env: NodeJS.ProcessEnv
  readonly packageDir: string | undefined
}): Result.Result<EnvLoad, EnvFileError> => {
  const flag = options.envFile
  if (flag === "") return Result.fail(new EnvFileError({ file: "--env-file", line: 0, reason: "expects a path, e.g. --env-file ~/.config/dingtalk-mcp-server.env" }))
  const packageEnv = options.packageDir === undefined ? undefined : path.join(options.packageDir, ".env")
  const files = [
    ...(packageEnv !== undefined && existsSync(packageEnv) ? [packageEnv] : []),
    ...(flag === undefined ? [] : [path.resolve(flag)]),
  ]
  const merged: Record<string, string> = {}
  const warnings: Array<string> = []
  for (const file of files) {
    const read = readOne(file)
    if (Result.isFailure(read)) return Result.fail(read.failure)
    Object.assign(merged, read.success.values)
    if (read.success.warning !== undefined) warnings.push(read.success.warning)
  }
  for (const [key, value] of Object.entries(merged)) {
    if (options.env[key] === undefined) options.env[key] = value
  }
  return Result.succeed({ files, warnings })
}
