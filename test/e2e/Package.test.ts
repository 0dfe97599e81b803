/**
 * The package as users install it: `npm pack` holds what it should and nothing else, and the tarball
 * installed without devDependencies on Node 22 answers `--help` through npx and MCP `initialize` on stdio.
 */
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
// `--ignore-scripts` on pack: `prepare` would rebuild dist/ under the feet of other test files.
const run = promisify(execFile)
// npm and npx run on the Node of this test (the pinned Node 22), as on a machine with Node 22 installed.
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`, npm_config_update_notifier: "false" }
const work = mkdtempSync(path.join(tmpdir(), "dingtalk-pack-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

describe("the npm package", () => {
  let tarball = ""

  it("packs dist, README, LICENSE and .env.example, and no tests, sources or fixtures", async () => {
    const { stdout } = await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], { cwd: ROOT, env, maxBuffer: 20_000_000 })
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
    tarball = path.join(work, packed!.filename)
    const files = packed!.files.map((file) => file.path)
    for (const wanted of ["dist/main.js", "dist/cli/app.js", "dist/index.js", "dist/testing/index.js", "README.md", "README.zh-CN.md", "LICENSE", ".env.example", "package.json"]) {
      expect(files).toContain(wanted)
    }
    expect(files.filter((file) => /^(test|bench|src|docs|\.ci)\//.test(file) || /\.test\.|fixture/i.test(file))).toEqual([])
  })

  it("installs without devDependencies and answers --help through npx and initialize over stdio", async () => {
    expect(tarball).not.toBe("")
    const project = path.join(work, "project")
    await run("mkdir", ["-p", project])
    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "user-project", private: true }))
    await run("npm", ["install", "--omit=dev", "--no-audit", "--no-fund", tarball], { cwd: project, env, maxBuffer: 20_000_000 })

    const help = await run("npx", ["--no-install", "dingtalk-mcp-server", "--help"], { cwd: project, env })
    expect(help.stdout).toMatch(/^dingtalk-mcp-server \d+\.\d+\.\d+/)
    expect(help.stdout).toMatch(/Supports Node\.js 22/)

    const main = path.join(project, "node_modules", "dingtalk-mcp-server", "dist", "main.js")
    const child = spawn(process.execPath, [main], {
      cwd: project,
      env: { PATH: env.PATH, HOME: project, DINGTALK_CLIENT_ID: "pack-check", DINGTALK_CLIENT_SECRET: "pack-check", DINGTALK_API_URL: "http://127.0.0.1:9" },
      stdio: ["pipe", "pipe", "pipe"],
    })
    const firstLine = new Promise<string>((resolve, reject) => {
      let out = ""
      child.stdout.on("data", (chunk) => {
        out += chunk
        if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")))
      })
      child.on("exit", (code) => reject(new Error(`exited with ${code} before answering`)))
    })
    child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "pack-test", version: "1" } } })}\n`)
    try {
      const answer = JSON.parse(await firstLine)
      expect(answer.id).toBe(1)
      expect(answer.result.serverInfo.name).toBe("dingtalk-mcp-server")
    } finally {
      child.kill("SIGKILL")
    }
  }, 240_000)
})
