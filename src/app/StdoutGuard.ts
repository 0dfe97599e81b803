/**
 * stdout belongs to MCP JSON-RPC. Dependencies (the DingTalk SDK's "connect success", stray
 * `console.log`s) print there, so every console method is sent to stderr before anything loads.
 */
import { format } from "node:util"

/** Routes `console.log/info/debug/trace/dir` to stderr for the rest of the process. */
export const routeConsoleToStderr = (): void => {
  const toStderr = (...args: ReadonlyArray<unknown>) => {
    process.stderr.write(`${format(...args)}\n`)
  }
  console.log = toStderr
  console.info = toStderr
  console.debug = toStderr
  console.trace = toStderr
  console.dir = (item: unknown) => toStderr(item)
}
