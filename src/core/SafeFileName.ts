/**
 * File names that come from outside (a DingTalk message, a tool call) made safe to write: one path
 * segment, no control characters, no leading dots, a length cap. Used for every file the bridge
 * writes on someone else's behalf, so nothing can land outside the folder it is meant for.
 */
import { createHash } from "node:crypto"
import path from "node:path"

/** Longest file name written, in UTF-8 bytes (most file systems allow 255). */
export const MAX_FILE_NAME_BYTES = 120

/** Cuts `text` to at most `bytes` UTF-8 bytes without splitting a character. */
const cutToBytes = (text: string, bytes: number): string => {
  let out = ""
  for (const char of text) {
    if (Buffer.byteLength(out + char) > bytes) break
    out += char
  }
  return out
}

/**
 * A single safe path segment for `raw`: directory parts, control and reserved characters and leading
 * dots are removed, the extension is kept when the name is cut. Never empty (`fallback` instead).
 */
export const safeFileName = (raw: string, fallback = "attachment"): string => {
  // The last segment only: "../../etc/passwd" → "passwd", "C:\\x\\y.txt" → "y.txt".
  const base = raw.split(/[/\\]/).pop() ?? ""
  const cleaned = base
    .normalize("NFC")
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/g, "")
    .replace(/[<>:"|?*]/g, "_")
    .replace(/^[.\s]+/, "")
    .replace(/[.\s]+$/, "")
  const name = cleaned === "" ? fallback : cleaned
  if (Buffer.byteLength(name) <= MAX_FILE_NAME_BYTES) return name
  const ext = path.extname(name)
  const keepExt = ext.length > 1 && Buffer.byteLength(ext) <= 16 ? ext : ""
  return cutToBytes(name.slice(0, name.length - keepExt.length), MAX_FILE_NAME_BYTES - Buffer.byteLength(keepExt)) + keepExt
}

/** True when `name` is already a safe single segment (what `safeFileName` would return unchanged). */
export const isSafeFileName = (name: string): boolean => name !== "" && safeFileName(name) === name

/**
 * A folder name for a conversation ID (`cid…` IDs hold `/`, `+` and `=`): readable, one segment, and
 * distinct for distinct IDs (a short hash is added when characters had to be replaced).
 */
export const conversationFolder = (conversationId: string): string => {
  const readable = conversationId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64)
  if (readable === conversationId && readable !== "") return readable
  return `${readable}-${createHash("sha256").update(conversationId).digest("hex").slice(0, 8)}`
}

/** True when `child` (absolute, resolved) is `parent` or inside it. */
export const isInside = (parent: string, child: string): boolean => {
  const relative = path.relative(parent, child)
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
}
