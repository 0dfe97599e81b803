import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { mkdtempSync } from "node:fs"
import net from "node:net"
import { tmpdir } from "node:os"
import path from "node:path"
import { acquire, MAX_LINE_BYTES } from "../../src/app/ControlSocket.js"
import { socketPathFor } from "../../src/core/StateDir.js"

const policyA = { fingerprint: "aaaa", summary: "DINGTALK_ACCESS=allowlist, 1 allowed user(s)" }
const policyB = { fingerprint: "bbbb", summary: "DINGTALK_ACCESS=pairing, 0 allowed user(s)" }

/** Writes `data` on a fresh connection; resolves with whether the owner closed it within `ms`. */
const poke = (socketPath: string, data: string | Buffer, ms: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(socketPath, () => socket.write(data))
    socket.on("error", () => undefined)
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(false)
    }, ms)
    socket.on("close", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

describe("ControlSocket", () => {
  it.live("the first process owns, the second follows: hello carries the policy, calls are forwarded, junk is ignored, long lines drop the peer", () =>
    Effect.gen(function*() {
      const stateDir = mkdtempSync(path.join(tmpdir(), "control-"))
      const socketPath = socketPathFor(stateDir, "robot")
      const ownerScope = yield* Scope.make()
      const owner = yield* acquire({ stateDir, clientId: "robot", policy: policyA, mayOwn: true }).pipe(Scope.provide(ownerScope))
      assert.strictEqual(owner._tag, "Owner")
      if (owner._tag !== "Owner") return
      yield* owner.serve(async (tool, args) => ({ content: [{ type: "text", text: `${tool}:${JSON.stringify(args)}` }] }))

      const follower = yield* acquire({ stateDir, clientId: "robot", policy: policyB, mayOwn: true })
      assert.strictEqual(follower._tag, "Follower")
      if (follower._tag !== "Follower") return
      assert.deepStrictEqual(follower.owner, { type: "hello", pid: process.pid, ...policyA })

      assert.isFalse(yield* Effect.promise(() => poke(socketPath, 'null\n{"type":"call"}\n[1,2]\n', 300)))
      assert.isTrue(yield* Effect.promise(() => poke(socketPath, Buffer.alloc(MAX_LINE_BYTES + 10, 0x7b), 3_000)))

      const answer = yield* Effect.promise(() => follower.call("dingtalk_get_stats", { a: 1 }))
      assert.deepStrictEqual(answer, { content: [{ type: "text", text: 'dingtalk_get_stats:{"a":1}' }] })

      // The owner goes: the follower hears it.
      yield* Scope.close(ownerScope, Exit.void)
      yield* follower.ownerGone
      const late = yield* Effect.promise(() => follower.call("dingtalk_get_stats", {}))
      assert.isTrue(late.isError)
    }).pipe(Effect.scoped))

  it.live("after the owner has gone, the next instance owns", () =>
    Effect.gen(function*() {
      const stateDir = mkdtempSync(path.join(tmpdir(), "control-"))
      const ownerScope = yield* Scope.make()
      const first = yield* acquire({ stateDir, clientId: "robot", policy: policyA, mayOwn: true }).pipe(Scope.provide(ownerScope))
      assert.strictEqual(first._tag, "Owner")
      const follower = yield* acquire({ stateDir, clientId: "robot", policy: policyA, mayOwn: true })
      assert.strictEqual(follower._tag, "Follower")
      yield* Scope.close(ownerScope, Exit.void)
      if (follower._tag === "Follower") yield* follower.ownerGone
      const next = yield* acquire({ stateDir, clientId: "robot", policy: policyA, mayOwn: true })
      assert.strictEqual(next._tag, "Owner")
    }).pipe(Effect.scoped))
})
