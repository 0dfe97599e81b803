/**
 * This code against round 1's, side by side: round 1's source is taken from git history and built
 * under this checkout's `node_modules/.cache` (so it resolves the same packages, and goes with them),
 * then both builds run `oneAtATime.ts` in fresh processes, alternating, against the same emulator and
 * fake OpenCode code.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

/** Round 1's last commit. */
export const ROUND_ONE = "6aa2867"

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, "..")

interface OneRun {
  readonly overheadP50: number
  readonly ratio: number
}

/** Round 1's `dist/index.js`, built once per install; a reason instead when history or the build is missing. */
const buildRoundOne = (): { readonly entry: string } | { readonly skipped: string } => {
  const dir = path.join(ROOT, "node_modules", ".cache", `round1-${ROUND_ONE}`)
  const entry = path.join(dir, "dist", "index.js")
  if (existsSync(entry)) return { entry }
  try {
    mkdirSync(dir, { recursive: true })
    execFileSync("sh", ["-c", `git -C "${ROOT}" archive ${ROUND_ONE} src package.json tsconfig.json tsconfig.build.json | tar -x -C "${dir}"`], { stdio: ["ignore", "ignore", "pipe"] })
    try {
      execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
    } catch (error) {
      // Type errors against today's dependencies still emit JavaScript, which is all that runs.
      if (!existsSync(entry)) throw error
    }
    return { entry }
  } catch (error) {
    return { skipped: `round 1 (${ROUND_ONE}) could not be built here: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` }
  }
}

const runOnce = (entry: string, messages: number) =>
  new Promise<OneRun>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(HERE, "oneAtATime.ts"), entry, String(messages)], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`oneAtATime.ts exited ${code} for ${entry}`))))
  })

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** `alternations` runs of each build, alternating; per build: every run and the medians. */
export const roundOneSideBySide = async (alternations: number, messages: number) => {
  const built = buildRoundOne()
  if ("skipped" in built) return { commit: ROUND_ONE, skipped: built.skipped }
  const current: Array<OneRun> = []
  const roundOne: Array<OneRun> = []
  for (let i = 0; i < alternations; i++) {
    current.push(await runOnce(path.join(ROOT, "dist", "index.js"), messages))
    // Round 1 failing to run here is reported, not fatal: the rest of the bench still stands.
    const old = await runOnce(built.entry, messages).catch((error: Error) => error)
    if (old instanceof Error) return { commit: ROUND_ONE, skipped: old.message }
    roundOne.push(old)
  }
  const summary = (runs: ReadonlyArray<OneRun>) => ({
    runs,
    overheadP50: median(runs.map((r) => r.overheadP50)),
    ratio: median(runs.map((r) => r.ratio)),
  })
  return { commit: ROUND_ONE, messages, current: summary(current), roundOne: summary(roundOne) }
}
