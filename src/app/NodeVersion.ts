/**
 * Runs in-process on whatever `node` starts `dist/main.js` (OpenCode spawns it with the `node` on PATH),
 * so a supervisor's SIGKILL ends the one process that holds the robot. Node 22 is what the project
 * supports; Node 20 (end of life 2026-04-30) still runs it and is told so in one line; older Node is
 * refused in one line. No dependencies: this runs before anything large is loaded.
 */
const SUPPORTED_MAJOR = 22
const OLDEST_MAJOR = 20

/** One-shot commands whose output a script may read: no notice about the Node version on them. */
const QUIET_COMMANDS = new Set(["pair", "--help", "-h", "--version", "-v"])

/** Returns false (and sets the exit code) when this Node cannot run the bridge. */
export const checkNodeVersion = ({
  args = process.argv.slice(2),
  version = process.versions.node,
  write = (line: string) => void process.stderr.write(line),
}: { args?: ReadonlyArray<string>; version?: string; write?: (line: string) => void } = {}): boolean => {
  const major = Number(version.split(".")[0])
  if (major < OLDEST_MAJOR) {
    write(`dingtalk-mcp-server needs Node ${SUPPORTED_MAJOR} (this is v${version}); a clone's "npm install" brings one: node_modules/node/bin/node dist/main.js\n`)
    process.exitCode = 1
    return false
  }
  if (major < SUPPORTED_MAJOR && !args.some((arg) => QUIET_COMMANDS.has(arg))) {
    write(`dingtalk-mcp-server: v${version} is past its end of life and runs this bridge unsupported; use Node ${SUPPORTED_MAJOR}\n`)
  }
  return true
}
