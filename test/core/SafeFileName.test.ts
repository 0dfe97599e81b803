import { assert, describe, it } from "@effect/vitest"
import path from "node:path"
import { conversationFolder, isInside, MAX_FILE_NAME_BYTES, safeFileName } from "../../src/core/SafeFileName.js"

describe("SafeFileName", () => {
  it("keeps one path segment: traversal and directories are removed", () => {
    assert.strictEqual(safeFileName("../../etc/passwd"), "passwd")
    assert.strictEqual(safeFileName("..\\..\\boot.ini"), "boot.ini")
    assert.strictEqual(safeFileName(".."), "attachment")
    assert.strictEqual(safeFileName("/"), "attachment")
    assert.strictEqual(safeFileName(".bashrc"), "bashrc")
  })

  it("drops control and bidi characters and replaces reserved ones", () => {
    assert.strictEqual(safeFileName("a\u0000b\nc\u202egpj.exe"), "abcgpj.exe")
    assert.strictEqual(safeFileName('what?<is>"this".txt'), "what__is__this_.txt")
    assert.strictEqual(safeFileName("   "), "attachment")
  })

  it("caps the length in bytes and keeps the extension", () => {
    const cut = safeFileName(`${"日志".repeat(100)}.log`)
    assert.isAtMost(Buffer.byteLength(cut), MAX_FILE_NAME_BYTES)
    assert.isTrue(cut.endsWith(".log"))
    assert.strictEqual(safeFileName("report.pdf"), "report.pdf")
  })

  it("gives distinct conversation IDs distinct single-segment folders", () => {
    const a = conversationFolder("cidh6ezDLHQau9V23Es/xSLNo=")
    const b = conversationFolder("cidh6ezDLHQau9V23Es+xSLNo=")
    assert.notStrictEqual(a, b)
    assert.notInclude(a, "/")
    assert.strictEqual(conversationFolder("cid-plain_1"), "cid-plain_1")
    assert.notStrictEqual(conversationFolder(".."), "..")
  })

  it("isInside tells a child from a sibling that shares a prefix", () => {
    assert.isTrue(isInside("/a/b", "/a/b/c.txt"))
    assert.isTrue(isInside("/a/b", "/a/b"))
    assert.isTrue(isInside("/a/b", path.join("/a/b", "..c")))
    assert.isFalse(isInside("/a/b", "/a/bc/d"))
    assert.isFalse(isInside("/a/b", "/a/b/../c"))
  })
})
