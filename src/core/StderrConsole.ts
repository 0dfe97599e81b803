/**
 * The console the loggers write through: lines go to stderr in one write per turn of the event loop
 * instead of one synchronous write each (stderr is a pipe under an MCP client, and pipe writes block
 * Node's thread on Linux). At exit whatever is still buffered is written synchronously.
 */
import type { Console } from "effect"
import { writeSync } from "node:fs"
import { format } from "node:util"

let pending: Array<string> = []
let scheduled = false
let indent = ""

const flush = () => {
  scheduled = false
  if (pending.length === 0) return
  const text = pending.join("")
  pending = []
  process.stderr.write(text)
}

const flushSync = () => {
  if (pending.length === 0) return
  const text = pending.join("")
  pending = []
  try {
    writeSync(2, text)
  } catch {
    // stderr is gone: nothing left to tell
  }
}

const write = (...args: ReadonlyArray<unknown>) => {
  const text = format(...args)
  pending.push(`${indent}${indent === "" ? text : text.replaceAll("\n", `\n${indent}`)}\n`)
  if (!scheduled) {
    scheduled = true
    // A short delay gathers the lines of several messages into one write, off the path of each.
    setTimeout(flush, 20)
  }
}

let installed = false

/** A console whose output methods all write to stderr, batched; `group` indents as Node's does. */
export const stderrConsole = (): Console.Console => {
  if (!installed) {
    installed = true
    process.on("exit", flushSync)
  }
  const console = Object.create(globalThis.console) as Record<string, unknown>
  for (const method of ["log", "info", "debug", "warn", "error", "trace"]) console[method] = write
  console.group = (...label: ReadonlyArray<unknown>) => {
    if (label.length > 0) write(...label)
    indent += "  "
  }
  console.groupCollapsed = console.group
  console.groupEnd = () => {
    indent = indent.slice(2)
  }
  return console as unknown as Console.Console
}
