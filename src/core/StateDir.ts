/**
 * Where an instance keeps its state: the ownership socket and the remembered conversations of each
 * robot, under the user's state directory.
 */
import os from "node:os"
import path from "node:path"

/** A file or folder of this client ID's state, e.g. `.sock` or `.conversations`. */
export const statePathFor = (stateDir: string, clientId: string, suffix: string): string =>
  path.join(stateDir, `${clientId.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64)}${suffix}`)

/** Where the ownership socket of a client ID lives. */
export const socketPathFor = (stateDir: string, clientId: string): string => statePathFor(stateDir, clientId, ".sock")

/** The default state directory: `$XDG_STATE_HOME/dingtalk-mcp-server` or `~/.local/state/dingtalk-mcp-server`. */
export const defaultStateDir = (): string =>
  path.join(process.env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local", "state"), "dingtalk-mcp-server")

