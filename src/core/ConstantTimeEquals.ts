/**
 * Comparing a presented secret (a bearer token, the sandbox page's token) with the expected one without
 * leaking, through timing, how much of it matched.
 */
import { createHash, timingSafeEqual } from "node:crypto"

/** True when `given` equals `expected`, in time independent of where they differ (digests have equal length). */
export const constantTimeEquals = (given: string, expected: string): boolean =>
  timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest())
