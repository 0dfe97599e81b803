/**
 * Polls (real time) until a condition holds, for the process-level tests that watch other processes.
 */

/** Waits until `check` holds, looking every `everyMs`; after `timeoutMs` fails with `onTimeout()` (or "timed out waiting for `what`"). */
export const waitUntil = async (
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, everyMs = 20, onTimeout }: { timeoutMs?: number; everyMs?: number; onTimeout?: () => string } = {},
) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(onTimeout?.() ?? `timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
