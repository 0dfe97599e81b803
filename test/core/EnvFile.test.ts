import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { CONFIG_VARIABLES } from "../../src/core/BridgeConfig.js"
import { loadEnvFiles, packageDirOf, parseEnvFile } from "../../src/core/EnvFile.js"

const parsed = (text: string) => {
  const result = parseEnvFile(text, "/x/.env")
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return result.success
}
const refused = (text: string) => {
  const result = parseEnvFile(text, "/x/.env")
  assert.isTrue(Result.isFailure(result), `expected a refusal for ${JSON.stringify(text)}`)
  return Result.isFailure(result) ? result.failure.message : ""
}

describe(".env files", () => {
  it("reads KEY=value, comments, blank lines, quotes, CRLF and a UTF-8 BOM", () => {
    assert.deepStrictEqual(parsed([
      "\uFEFF# robot",
      "DINGTALK_CLIENT_ID=ding123",
      "",
      "  # indented comment",
      "DINGTALK_CLIENT_SECRET = \"s e#cret\\n\"  # trailing",
      "DINGTALK_ALLOWED_USERS=boss, alice # the team\r",
      "OPENCODE_SERVER_PASSWORD='lit\\eral'",
      "OTHER_TOOL_SETTING=kept",
      "EMPTY=",
    ].join("\n")), {
      DINGTALK_CLIENT_ID: "ding123", DINGTALK_CLIENT_SECRET: "s e#cret\n", DINGTALK_ALLOWED_USERS: "boss, alice",
      OPENCODE_SERVER_PASSWORD: "lit\\eral", OTHER_TOOL_SETTING: "kept", EMPTY: "",
    })
  })

  it("any other line is an error naming the file and the line", () => {
    assert.strictEqual(refused("DINGTALK_CLIENT_ID=a\nDINGTALK_ALLOWED_USERS: boss\n"), "Configuration error: /x/.env line 2: expected KEY=value.")
    assert.match(refused("export DINGTALK_CLIENT_ID=a"), /line 1: .*not a variable name/)
    assert.match(refused('DINGTALK_CLIENT_ID="open'), /line 1: DINGTALK_CLIENT_ID: the quote is not closed/)
    assert.match(refused('DINGTALK_CLIENT_ID="a" b'), /after the closing quote/)
    assert.match(refused("DINGTALK_CLIENT_ID=a\nDINGTALK_CLIENT_ID=b"), /line 2: DINGTALK_CLIENT_ID is set twice/)
  })

  it("an unknown DINGTALK_/BRIDGE_/MCP_/OPENCODE_ name is an error naming it", () => {
    for (const name of ["DINGTALK_ALLOWED_USER", "BRIDGE_STATEDIR", "MCP_HTTP_TOKN", "OPENCODE_URL"]) {
      assert.match(refused(`${name}=x`), new RegExp(`line 1: unknown variable ${name}`))
    }
  })

  it("every variable BridgeConfig.ts reads is in CONFIG_VARIABLES", () => {
    const source = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/core/BridgeConfig.ts"), "utf8")
    const read = [...source.matchAll(/Config\.\w+\("([A-Z][A-Z0-9_]+)"|(?:CommaList|PositiveInt|NonEmptySecret|BaseUrl)\("([A-Z][A-Z0-9_]+)"|\], "([A-Z][A-Z0-9_]+)"\)/g)]
      .map((m) => m[1] ?? m[2] ?? m[3]!)
    assert.isAbove(read.length, 30)
    assert.deepStrictEqual(read.filter((name) => !CONFIG_VARIABLES.includes(name)), [], "add these to CONFIG_VARIABLES in src/core/BridgeConfig.ts")
  })

  it("the real environment wins; --env-file wins over the package .env; a file others can read is warned about", () => {
    const packageDir = mkdtempSync(path.join(tmpdir(), "envpkg-"))
    writeFileSync(path.join(packageDir, ".env"), "DINGTALK_CLIENT_ID=from-package\nDINGTALK_API_URL=http://127.0.0.1:1\nLOG_LEVEL=debug\n", { mode: 0o600 })
    const flagged = path.join(packageDir, "flagged.env")
    writeFileSync(flagged, "DINGTALK_API_URL=http://127.0.0.1:2\n")
    chmodSync(flagged, 0o644)
    const env: NodeJS.ProcessEnv = { LOG_LEVEL: "warn" }
    const loaded = loadEnvFiles({ envFile: flagged, env, packageDir })
    assert.isTrue(Result.isSuccess(loaded))
    assert.deepStrictEqual(env, { LOG_LEVEL: "warn", DINGTALK_CLIENT_ID: "from-package", DINGTALK_API_URL: "http://127.0.0.1:2" })
    if (Result.isSuccess(loaded)) {
      assert.strictEqual(loaded.success.warnings.length, 1)
      assert.match(loaded.success.warnings[0]!, /flagged\.env is readable by its group and other users .*chmod 600/)
    }
    const missing = loadEnvFiles({ envFile: "/nonexistent/x.env", env: {}, packageDir: undefined })
    assert.isTrue(Result.isFailure(missing) && /\/nonexistent\/x\.env: cannot be read \(ENOENT\)/.test(missing.failure.message))
  })

  it("the shipped .env.example is valid", () => {
    const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../.env.example")
    assert.isTrue(Result.isSuccess(parseEnvFile(readFileSync(file, "utf8"), file)))
  })

  it("finds the package directory above dist/", () => {
    const here = path.dirname(fileURLToPath(import.meta.url))
    assert.strictEqual(packageDirOf(path.resolve(here, "../../dist/cli")), path.resolve(here, "../.."))
  })
})
