import { assert, describe, it } from "@effect/vitest"
import { helpText, parseCli } from "../../src/app/Cli.js"

describe("command line", () => {
  it("serves by default, and the sandbox on request", () => {
    assert.deepStrictEqual(parseCli([]).command, { _tag: "Serve", sandbox: false })
    assert.deepStrictEqual(parseCli(["serve"]).command, { _tag: "Serve", sandbox: false })
    assert.deepStrictEqual(parseCli(["--sandbox"]).command, { _tag: "Serve", sandbox: true })
    assert.deepStrictEqual(parseCli(["sandbox"]).command, { _tag: "Serve", sandbox: true })
  })

  it("reads subcommands, help, version and --env-file in either form", () => {
    assert.deepStrictEqual(parseCli(["doctor", "--env-file", "/x/.env"]), { command: { _tag: "Doctor" }, envFile: "/x/.env" })
    assert.deepStrictEqual(parseCli(["--env-file=/y", "pair", "AB12CD"]), { command: { _tag: "Pair", code: "AB12CD" }, envFile: "/y" })
    assert.strictEqual(parseCli(["doctor", "--help"]).command._tag, "Help")
    assert.strictEqual(parseCli(["-v"]).command._tag, "Version")
  })

  it("names what is wrong with a bad command line", () => {
    assert.deepStrictEqual(parseCli(["frobnicate"]).command, { _tag: "Invalid", message: "unknown command \"frobnicate\"" })
    assert.deepStrictEqual(parseCli(["--env-file"]).command, { _tag: "Invalid", message: "--env-file needs a path" })
    assert.deepStrictEqual(parseCli(["pair"]).command, { _tag: "Invalid", message: "usage: dingtalk-mcp-server pair <code>" })
    assert.deepStrictEqual(parseCli(["--verbose"]).command, { _tag: "Invalid", message: "unknown option --verbose" })
  })

  it("documents every command and the exit codes", () => {
    const text = helpText("9.9.9")
    for (const word of ["serve", "sandbox", "doctor", "pair <code>", "--env-file", "Exit codes", "Node.js 22"]) assert.include(text, word)
  })
})
