import { readFileSync } from "node:fs"
import { expect, it } from "vitest"
import { VERSION } from "../../src/core/Version.js"

it("the version reported to MCP clients is the package's", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"))
  expect(VERSION).toBe(pkg.version)
})
