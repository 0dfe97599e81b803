/**
 * Message IDs the bridge chooses for its prompts, in OpenCode's own format: `msg_`, 12 hex digits of
 * time (milliseconds × 4096 + a counter, low 48 bits) and 14 random base62 characters. OpenCode only
 * requires the `msg` prefix, but it orders a session's messages by ID: an ID from its own clock keeps
 * the history in order.
 */
import { createHash, randomBytes } from "node:crypto"

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

/**
 * The random part of an ID, derived from `seed` instead (e.g. `robotCode:msgId#attempt`): any runner that
 * re-runs a message computes the same tail, so it finds the turn in the history without shared state.
 * The time part stays the sending time: OpenCode orders a session's messages by ID.
 */
export const derivedTail = (seed: string): string =>
  [...createHash("sha256").update(seed).digest().subarray(0, 14)].map((byte) => BASE62[byte % 62]).join("")

/** An ascending ID for `nowMillis` that ends in `tail`. */
export const messageIdWithTail = (nowMillis: number, tail: string): string => `${ascendingMessageId(nowMillis).slice(0, 16)}${tail}`
