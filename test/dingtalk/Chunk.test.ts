import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { jsonStringBytes, renderPart, splitMessage } from "../../src/dingtalk/Chunk.js"

/** Fence lines of a rendered part, by the same rules a markdown renderer uses; true when all are closed. */
const fencesBalanced = (markdown: string): boolean => {
  let open: string | undefined
  for (const line of markdown.split("\n")) {
    const match = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line.replace(/\r$/, ""))
    if (match === null) continue
    const [, marker, info] = match as unknown as [string, string, string]
    if (open === undefined) {
      if (!(marker[0] === "`" && info.includes("`"))) open = marker
    } else if (marker[0] === open[0] && marker.length >= open.length && info.trim() === "") {
      open = undefined
    }
  }
  return open === undefined
}

const cjk = fc.string({ unit: fc.constantFrom(..."汉字中文测试数据钉钉机器人回答问题"), minLength: 1, maxLength: 200 })
const emoji = fc.array(fc.constantFrom("🚀", "👍🏽", "👨‍👩‍👧", "🇨🇳", "🦊", "✅"), { maxLength: 30 }).map((a) => a.join(""))
const longLine = fc.string({ unit: fc.constantFrom("a", "b", "c", "_", "é"), minLength: 100, maxLength: 3_000 })
const awkward = fc.string({ unit: fc.constantFrom("\"", "\\", "\t", "\u0001", "\u2028", "\r", " ", "x", "\n"), maxLength: 200 })
const paragraph = fc.lorem({ mode: "sentences", maxCount: 6 }).map((s) => `${s}\n\n`)
const codeBlock = fc.tuple(fc.constantFrom("```", "````", "~~~"), fc.constantFrom("ts", "python", "", "sh"), fc.lorem({ mode: "sentences", maxCount: 30 }), fc.boolean())
  .map(([fence, lang, body, closed]) => `${fence}${lang}\n${body.replace(/\. /g, ".\n")}\n${closed ? `${fence}\n` : ""}`)
const fragment = fc.oneof(cjk, emoji, longLine, awkward, paragraph, codeBlock, fc.string({ maxLength: 50 }), fc.string({ unit: "grapheme", maxLength: 50 }))
const document = fc.array(fragment, { maxLength: 40 }).map((fragments) => fragments.join(""))
/** Mostly small budgets, so that most documents are split. */
const budget = fc.oneof(fc.integer({ min: 64, max: 600 }), fc.integer({ min: 64, max: 25_000 }))

describe("jsonStringBytes", () => {
  it("equals the UTF-8 size of JSON.stringify without the quotes", () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: "binary" }), document), (s) => {
      expect(jsonStringBytes(s)).toBe(Buffer.byteLength(JSON.stringify(s)) - 2)
    }), { numRuns: 300 })
  })
})

describe("splitMessage", () => {
  it("split and joined equals the original", () => {
    fc.assert(fc.property(document, budget, (text, budget) => {
      expect(splitMessage(text, budget).map((p) => p.text).join("")).toBe(text)
    }), { numRuns: 200 })
  })

  it("every rendered part fits the budget and has balanced fences", () => {
    fc.assert(fc.property(document, budget, (text, budget) => {
      const parts = splitMessage(text, budget)
      parts.forEach((part, i) => {
        const rendered = renderPart(part, i, parts.length)
        expect(jsonStringBytes(rendered)).toBeLessThanOrEqual(budget)
        if (parts.length > 1) expect(fencesBalanced(rendered)).toBe(true)
      })
    }), { numRuns: 200 })
  })

  it("never cuts between the two halves of a surrogate pair", () => {
    fc.assert(fc.property(fc.array(fc.oneof(emoji, fc.string({ unit: "grapheme", maxLength: 20 })), { maxLength: 200 }).map((a) => a.join("")), fc.integer({ min: 64, max: 400 }), (text, budget) => {
      for (const part of splitMessage(text, budget)) {
        const first = part.text.charCodeAt(0)
        const last = part.text.charCodeAt(part.text.length - 1)
        expect(first >= 0xdc00 && first <= 0xdfff).toBe(false)
        expect(last >= 0xd800 && last <= 0xdbff).toBe(false)
      }
    }), { numRuns: 200 })
  })

  it("a text that fits is one part, unchanged and without a header", () => {
    fc.assert(fc.property(document.filter((t) => jsonStringBytes(t) <= 20_000), (text) => {
      const parts = splitMessage(text, 20_000)
      expect(parts).toEqual([{ text, reopen: "", close: "" }])
      expect(renderPart(parts[0]!, 0, 1)).toBe(text)
    }), { numRuns: 100 })
  })

  it("closes a code block cut between parts and reopens it with its language", () => {
    const code = Array.from({ length: 1_500 }, (_, i) => `const value${i} = "${"x".repeat(20)}" // 注释 ${i}`).join("\n")
    const text = `# Result\n\nHere is the code:\n\n\`\`\`ts\n${code}\n\`\`\`\n\nThat's all.`
    expect(Buffer.byteLength(text)).toBeGreaterThan(50_000)
    const parts = splitMessage(text, 20_000)
    const n = parts.length
    // Fewer, larger parts: at most one more than the bytes strictly need.
    expect(n).toBeLessThanOrEqual(Math.ceil(jsonStringBytes(text) / 20_000) + 1)
    const rendered = parts.map((p, i) => renderPart(p, i, n))
    expect(rendered[0]!.startsWith(`(1/${n})\n# Result`)).toBe(true)
    expect(rendered[0]!.endsWith("\n```")).toBe(true)
    expect(rendered[1]!.startsWith(`(2/${n})\n\`\`\`ts\n`)).toBe(true)
    for (const r of rendered) expect(fencesBalanced(r)).toBe(true)
  })

  it("prefers paragraph boundaries and keeps parts large", () => {
    const paragraphs = Array.from({ length: 60 }, (_, i) => `Paragraph ${i}. ${"word ".repeat(60)}`.trim())
    const text = paragraphs.join("\n\n")
    const parts = splitMessage(text, 4_000)
    for (const part of parts.slice(0, -1)) {
      expect(part.text.endsWith("\n\n")).toBe(true)
      expect(jsonStringBytes(part.text)).toBeGreaterThan(2_000)
    }
  })

  it("splits a 1 MB answer quickly", () => {
    const text = "A line of an answer with 中文 and emoji 🚀.\n".repeat(20_000)
    const started = performance.now()
    const parts = splitMessage(text, 20_000)
    const elapsed = performance.now() - started
    expect(parts.map((p) => p.text).join("")).toBe(text)
    // Generous: a quadratic algorithm takes seconds here.
    expect(elapsed).toBeLessThan(2_000)
  })

  it("refuses a budget too small to make progress", () => {
    expect(() => splitMessage("x".repeat(100), 10)).toThrow(RangeError)
  })
})
