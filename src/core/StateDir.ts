/**
 * Where an instance keeps its state: the ownership socket and the remembered conversations of each
 * robot, under the user's state directory.
 */
import { Effect, Schema } from "effect"
import { accessSync, chmodSync, constants, mkdirSync, statSync } from "node:fs"
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


/** The state directory cannot be created or written: a start-up failure the operator must fix. */
export class StateDirUnusable extends Schema.TaggedError<StateDirUnusable>()("StateDirUnusable", {
  stateDir: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `State directory ${this.stateDir} is unusable (${this.reason}). Set BRIDGE_STATE_DIR to a directory this user can write.`
  }
}

/**
 * Creates the state directory (0700), or tightens an existing one to 0700: it holds the ownership socket
 * (whoever can connect drives the robot's tools) and conversation webhooks (credentials).
 */
export const prepareStateDir = (stateDir: string): Effect.Effect<void, StateDirUnusable> =>
  Effect.try({
    try: () => {
      mkdirSync(stateDir, { recursive: true, mode: 0o700 })
      if (!statSync(stateDir).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" })
      if ((statSync(stateDir).mode & 0o077) !== 0) chmodSync(stateDir, 0o700)
      accessSync(stateDir, constants.W_OK | constants.X_OK)
    },
    catch: (error) => new StateDirUnusable({ stateDir, reason: (error as NodeJS.ErrnoException).code ?? String(error) }),
  })
