/**
 * A throwaway PostgreSQL for the cluster tests: `.ci/run` starts one and passes `BRIDGE_TEST_DATABASE_URL`;
 * otherwise a test file starts its own from the Debian packages (as root through `runuser -u postgres`),
 * or says it is missing so the test can be skipped.
 */
import { execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { userInfo } from "node:os"

/** A database for one test run. */
export interface TestPostgres {
  /** `postgres://…/<database>`. */
  readonly url: string
  /** Creates another empty database on the same server; its URL. */
  readonly createDatabase: (name: string) => string
  readonly stop: () => void
}

const serverBin = (): string | undefined => {
  if (!existsSync("/usr/lib/postgresql")) return undefined
  const version = readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a))[0]
  const bin = version === undefined ? undefined : `/usr/lib/postgresql/${version}/bin`
  return bin !== undefined && existsSync(`${bin}/initdb`) ? bin : undefined
}

/** Why no PostgreSQL can be had here, or undefined when one can. */
export const postgresMissing = (): string | undefined => {
  if (process.env.BRIDGE_TEST_DATABASE_URL) return undefined
  if (serverBin() === undefined) return "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql-15)"
  try {
    execFileSync("psql", ["--version"], { stdio: "pipe" })
  } catch {
    return "psql not on PATH"
  }
  return undefined
}

const createDatabaseAt = (base: URL) => (name: string) => {
  execFileSync("psql", ["-h", base.hostname, "-p", base.port, "-U", base.username || "postgres", "-d", "postgres", "-qAtc", `create database ${name}`], { stdio: "pipe" })
  const url = new URL(base)
  url.pathname = `/${name}`
  return url.href
}

/** Starts (or reuses, from `BRIDGE_TEST_DATABASE_URL`) a server and creates `database` on it. */
export const startTestPostgres = (port: number, database: string): TestPostgres => {
  const given = process.env.BRIDGE_TEST_DATABASE_URL
  if (given) {
    const create = createDatabaseAt(new URL(given))
    return { url: create(database), createDatabase: create, stop: () => undefined }
  }
  const bin = serverBin()!
  const dir = mkdtempSync("/tmp/pg-")
  const asRoot = userInfo().uid === 0
  if (asRoot) {
    const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"]).toString().trim())
    chownSync(dir, id("-u"), id("-g"))
  }
  const run = (file: string, args: Array<string>) => asRoot
    ? execFileSync("runuser", ["-u", "postgres", "--", file, ...args], { stdio: "pipe" })
    : execFileSync(file, args, { stdio: "pipe" })
  run(`${bin}/initdb`, ["-D", `${dir}/data`, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
  run(`${bin}/pg_ctl`, ["-D", `${dir}/data`, "-l", `${dir}/server.log`, "-w", "-t", "30", "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`, "start"])
  const create = createDatabaseAt(new URL(`postgres://postgres@127.0.0.1:${port}/postgres`))
  return {
    url: create(database),
    createDatabase: create,
    stop: () => {
      try {
        run(`${bin}/pg_ctl`, ["-D", `${dir}/data`, "-m", "immediate", "-w", "stop"])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
