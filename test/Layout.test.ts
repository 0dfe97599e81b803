/**
 * The folders of `src/` are the architecture, and it flows one way: a folder imports only from
 * itself and from folders below it. This reads every import of every source file and checks it.
 */
import { assert, describe, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src")

/** Each folder and the folders it may import from. */
const mayImport: Record<string, ReadonlyArray<string>> = {
  core: [],
  emulator: [],
  dingtalk: ["core"],
  opencode: ["core"],
  testing: ["emulator"],
  pipeline: ["core", "dingtalk", "opencode"],
  mcp: ["core", "dingtalk", "opencode"],
  app: ["core", "dingtalk", "opencode", "pipeline", "mcp", "emulator"],
  ".": ["core", "dingtalk", "opencode", "pipeline", "mcp", "app", "emulator", "testing"],
}

const sourceFiles = readdirSync(SRC, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".ts"))

const importsOf = (file: string): ReadonlyArray<string> =>
  [...readFileSync(path.join(SRC, file), "utf8").matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((match) => match[1]!)

const folderOf = (file: string) => (file.includes(path.sep) ? file.split(path.sep)[0]! : ".")

describe("source layout", () => {
  it("every source file lives in a known folder", () => {
    const unknown = sourceFiles.filter((file) => mayImport[folderOf(file)] === undefined)
    assert.deepStrictEqual(unknown, [])
    assert.isAbove(sourceFiles.length, 20)
  })

  it("no folder imports from a folder above it", () => {
    const violations: Array<string> = []
    for (const file of sourceFiles) {
      const from = folderOf(file)
      for (const specifier of importsOf(file)) {
        const target = path.relative(SRC, path.resolve(SRC, path.dirname(file), specifier))
        const to = folderOf(target)
        if (to !== from && !mayImport[from]!.includes(to)) violations.push(`${file} → ${target}`)
      }
    }
    assert.deepStrictEqual(violations, [])
  })

  it("only main.ts and the library entry sit at the root of src", () => {
    assert.deepStrictEqual(sourceFiles.filter((file) => folderOf(file) === ".").sort(), ["index.ts", "main.ts"])
  })
})
