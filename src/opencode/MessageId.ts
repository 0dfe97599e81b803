/**
 * Message IDs the bridge chooses for its prompts, in OpenCode's own format: `msg_`, 12 hex digits of
 * time (milliseconds × 4096 + a counter, low 48 bits) and 14 random base62 characters. OpenCode only
 * requires the `msg` prefix, but it orders a session's messages by ID: an ID from its own clock keeps
 * the history in order.
 */
import { randomBytes } from "node:crypto"

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

let lastMillis = 0
let counter = 0

/** A new ascending message ID for the time `nowMillis`. */
export const ascendingMessageId = (nowMillis: number): string => {
  if (nowMillis !== lastMillis) {
    lastMillis = nowMillis
    counter = 0
  }
  counter++
  const time = (BigInt(nowMillis) * 0x1000n + BigInt(counter)) & 0xffffffffffffn
  const random = [...randomBytes(14)].map((byte) => BASE62[byte % 62]).join("")
  return `msg_${time.toString(16).padStart(12, "0")}${random}`
}
