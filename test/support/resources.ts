/**
 * Small helpers shared by the process-level tests: a free loopback port, and cleanups run after each test.
 */
import net from "node:net"
import { afterEach } from "vitest"

/** A port that was free on 127.0.0.1 a moment ago (for servers that must be told their port up front). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = net.createServer()
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })

/** Registers an afterEach that runs the cleanups added during the test, newest first. */
export const cleanupAfterEach = () => {
  let cleanups: Array<() => unknown> = []
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
    cleanups = []
  })
  return (...added: Array<() => unknown>) => {
    cleanups.push(...added)
  }
}
