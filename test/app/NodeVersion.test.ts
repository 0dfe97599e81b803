import { afterEach, describe, expect, it } from "vitest"
import { checkNodeVersion } from "../../src/app/NodeVersion.js"

const check = (version: string, args: ReadonlyArray<string> = []) => {
  const lines: Array<string> = []
  const runs = checkNodeVersion({ version, args, write: (line) => void lines.push(line) })
  return { runs, lines }
}

describe("checkNodeVersion", () => {
  afterEach(() => {
    process.exitCode = undefined
  })

  it("Node 22 runs silently; Node 20 runs with one line saying it is past its end of life", () => {
    expect(check("22.23.3")).toEqual({ runs: true, lines: [] })
    const old = check("20.20.2", ["serve"])
    expect(old.runs).toBe(true)
    expect(old.lines).toEqual(["dingtalk-mcp-server: v20.20.2 is past its end of life and runs this bridge unsupported; use Node 22\n"])
  })

  it("one-shot commands a script reads (pair, --help, --version) get no notice", () => {
    for (const args of [["pair", "ABC123"], ["--help"], ["--version"], ["-v"]]) expect(check("20.20.2", args)).toEqual({ runs: true, lines: [] })
  })

  it("Node 18 is refused in one line that names the pinned Node, with exit code 1", () => {
    const refused = check("18.20.0")
    expect(refused.runs).toBe(false)
    expect(refused.lines).toHaveLength(1)
    expect(refused.lines[0]).toContain("node_modules/node/bin/node dist/main.js")
    expect(process.exitCode).toBe(1)
  })
})
