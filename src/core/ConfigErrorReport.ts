/**
 * Configuration errors for people: one line naming the variable and how to fix it, no stack trace.
 */
import type { Config } from "effect"

/** Turns Effect's `SchemaError(Expected string at ["NAME"])` into "NAME is not set …". */
export const describeConfigError = (error: Config.ConfigError): string => {
  const text = error.message
  const name = /at \["([A-Z0-9_]+)"\]/.exec(text)?.[1]
  const expected = /Expected ([^\n)]+)/.exec(text)?.[1]
  if (name !== undefined && expected === "string") return `${name} is not set.`
  if (name !== undefined) return `${name} is invalid: expected ${expected ?? "a different value"}.`
  return text.replace(/^SourceError\(|\)$/g, "").replace(/^SourceError: /, "")
}

/** The whole message printed before exiting with code 2. */
export const configErrorReport = (error: Config.ConfigError): string =>
  `Configuration error: ${describeConfigError(error)} Set it in the environment or in a .env file (see .env.example and the README).`

/** Cluster mode's database cannot be reached or used (the URL is never printed: it may hold a password). */
export const databaseUnusable = (detail: string): string =>
  `Cluster mode: the database in BRIDGE_DATABASE_URL cannot be used (${detail})`
