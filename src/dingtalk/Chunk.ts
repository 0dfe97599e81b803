/**
 * Splitting long answers for DingTalk, which rejects a request body over 20 000 bytes (460101) —
 * UTF-8 bytes of the JSON body, not characters. Parts are cut at paragraph, then line, then space,
 * then character boundaries (never inside a character), fenced code blocks that are cut are closed
 * and reopened with their language, and parts are numbered. Fewer, larger parts are better: DingTalk
 * also limits messages per minute.
 */

/** A slice of the original text plus the fence lines that make it valid markdown on its own. */
export interface Part {
  /** Exactly a slice of the original: the slices concatenate back to it. */
  readonly text: string
  /** The opening fence line (with a newline) of a code block cut by the previous part, or "". */
  readonly reopen: string
  /** The closing fence (after a newline) of a code block this part cuts, or "". */
  readonly close: string
}

/** Bytes a code point takes inside a JSON string literal, as `JSON.stringify` writes it. */
const escapedBytes = (cp: number): number => {
  if (cp === 0x22 || cp === 0x5c) return 2
  if (cp < 0x20) return cp === 0x08 || cp === 0x09 || cp === 0x0a || cp === 0x0c || cp === 0x0d ? 2 : 6
  if (cp < 0x80) return 1
  if (cp < 0x800) return 2
  if (cp >= 0xd800 && cp <= 0xdfff) return 6 // a lone surrogate is written as \udXXX
  return cp < 0x10000 ? 3 : 4
}

/** JSON-escaped UTF-8 size of a string inside a JSON string literal (without the quotes). */
export const jsonStringBytes = (s: string): number => {
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const cp = s.codePointAt(i)!
    if (cp > 0xffff) i++
    bytes += escapedBytes(cp)
  }
  return bytes
}

/** The largest "(n/n)\n" header, for up to 9 999 parts. */
const HEADER_RESERVE = jsonStringBytes("(9999/9999)\n")
/** Below this there is no room for a header, fences and some text. */
const MIN_BUDGET = 64

/** A fenced code block: where its opening line starts and ends, and where its closing line starts. */
interface Fence {
  readonly openStart: number
  /** Index just after the opening line's newline. */
  readonly openEnd: number
  /** Start of the closing fence line, or the text's length when the block is never closed. */
  readonly closeStart: number
  /** Index after the closing fence line (its newline included). */
  readonly closeEnd: number
  /** The opening line as written (trimmed of its indent), e.g. "```ts". */
  readonly line: string
  /** The fence characters, e.g. "```" or "~~~~". */
  readonly marker: string
}

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/

/** Finds the fenced code blocks (CommonMark rules: same character, closing at least as long, no info). */
const findFences = (text: string): Array<Fence> => {
  const fences: Array<Fence> = []
  let open: { start: number; end: number; line: string; marker: string } | undefined
  let lineStart = 0
  while (lineStart <= text.length) {
    const newline = text.indexOf("\n", lineStart)
    const lineEnd = newline === -1 ? text.length : newline + 1
    const line = text.slice(lineStart, newline === -1 ? text.length : newline).replace(/\r$/, "")
    const match = FENCE.exec(line)
    if (match !== null) {
      const marker = match[1]!
      const info = match[2]!
      if (open === undefined) {
        // A backtick fence's info string may not contain backticks.
        if (!(marker[0] === "`" && info.includes("`"))) open = { start: lineStart, end: lineEnd, line: line.trimStart(), marker }
      } else if (marker[0] === open.marker[0] && marker.length >= open.marker.length && info.trim() === "") {
        fences.push({ openStart: open.start, openEnd: open.end, closeStart: lineStart, closeEnd: lineEnd, line: open.line, marker: open.marker })
        open = undefined
      }
    }
    if (newline === -1) break
    lineStart = lineEnd
  }
  if (open !== undefined) {
    fences.push({ openStart: open.start, openEnd: open.end, closeStart: text.length, closeEnd: text.length, line: open.line, marker: open.marker })
  }
  return fences
}

/** Splits text so that every rendered part (header, fences included) has `jsonStringBytes` ≤ `budgetBytes`. */
export const splitMessage = (text: string, budgetBytes: number): ReadonlyArray<Part> => {
  if (!Number.isFinite(budgetBytes) || budgetBytes < MIN_BUDGET) {
    throw new RangeError(`A message part needs at least ${MIN_BUDGET} bytes of room; got ${budgetBytes}.`)
  }
  if (jsonStringBytes(text) <= budgetBytes) return [{ text, reopen: "", close: "" }]

  const fences = findFences(text)
  const longestMarker = fences.reduce((max, fence) => Math.max(max, fence.marker.length), 0)
  const closeReserve = longestMarker === 0 ? 0 : jsonStringBytes("\n") + longestMarker
  /** The fence whose content contains position p (a cut at p leaves it open). */
  const fenceAround = (p: number) => fences.find((fence) => fence.openEnd <= p && p <= fence.closeStart)
  /** True when p falls inside a fence line itself, where a cut would leave a broken fence line. */
  const insideFenceLine = (p: number) =>
    fences.some((fence) => (fence.openStart < p && p < fence.openEnd) || (fence.closeStart < p && p < fence.closeEnd))

  const parts: Array<Part> = []
  let pos = 0
  let reopen = ""
  while (pos < text.length) {
    const room = budgetBytes - HEADER_RESERVE - jsonStringBytes(reopen) - closeReserve
    if (room <= 0) throw new RangeError(`A message part needs more than ${budgetBytes} bytes for its code fence lines.`)
    // The furthest cut that fits, walking code points so a character is never split.
    let limit = pos
    let used = 0
    while (limit < text.length) {
      const cp = text.codePointAt(limit)!
      const size = escapedBytes(cp)
      if (used + size > room) break
      used += size
      limit += cp > 0xffff ? 2 : 1
    }
    if (limit >= text.length) {
      const around = fenceAround(text.length)
      parts.push({ text: text.slice(pos), reopen, close: around === undefined ? "" : closeFor(text, around) })
      break
    }
    const cut = chooseCut(text, pos, limit, fenceAround, insideFenceLine)
    const around = fenceAround(cut)
    const slice = text.slice(pos, cut)
    parts.push({ text: slice, reopen, close: around === undefined ? "" : closeFor(slice, around) })
    reopen = around === undefined ? "" : `${around.line}\n`
    pos = cut
  }
  return parts
}

const closeFor = (slice: string, fence: Fence): string => `${slice.endsWith("\n") ? "" : "\n"}${fence.marker}`

/**
 * The best cut in (pos, limit]: a blank line outside code, a line end outside code, any line end,
 * a space, else the limit itself — the first kind found in the later half of the span, so parts stay large.
 */
const chooseCut = (
  text: string,
  pos: number,
  limit: number,
  fenceAround: (p: number) => Fence | undefined,
  insideFenceLine: (p: number) => boolean
): number => {
  const floor = pos + Math.floor((limit - pos) / 2)
  const lastBefore = (needle: string, accept: (cut: number) => boolean): number | undefined => {
    for (let at = text.lastIndexOf(needle, limit - needle.length); at >= 0 && at + needle.length > floor; at = text.lastIndexOf(needle, at - 1)) {
      const cut = at + needle.length
      if (cut <= limit && cut > pos && accept(cut)) return cut
    }
    return undefined
  }
  const outsideCode = (cut: number) => fenceAround(cut) === undefined && !insideFenceLine(cut)
  const anywhere = (cut: number) => !insideFenceLine(cut) && !fakeFenceAt(text, cut)
  const cut = lastBefore("\n\n", outsideCode) ?? lastBefore("\n", outsideCode) ?? lastBefore("\n", anywhere) ?? lastBefore(" ", anywhere)
  if (cut !== undefined) return cut
  // No good boundary: cut at the limit, but not inside a fence line nor between a surrogate pair.
  let hard = limit
  while (hard > pos + 1 && (insideFenceLine(hard) || fakeFenceAt(text, hard) || splitsPair(text, hard))) hard--
  return hard > pos ? hard : limit
}

const splitsPair = (text: string, p: number) => isLowSurrogate(text.charCodeAt(p)) && isHighSurrogate(text.charCodeAt(p - 1))

/** A cut inside a line makes its rest start a line of the next part: it must not read as a fence there. */
const fakeFenceAt = (text: string, p: number): boolean => {
  if (p === 0 || text[p - 1] === "\n") return false
  const newline = text.indexOf("\n", p)
  return FENCE.test(text.slice(p, newline === -1 ? text.length : newline))
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff

/** The text of part `index` (0-based) of `total` as sent: a "(i/n)" header when there are several parts. */
export const renderPart = (part: Part, index: number, total: number): string =>
  `${total > 1 ? `(${index + 1}/${total})\n` : ""}${part.reopen}${part.text}${part.close}`
