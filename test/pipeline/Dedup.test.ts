import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import type { InboundMessage } from "../../src/dingtalk/RobotMessage.js"
import { makeDedup } from "../../src/pipeline/Dedup.js"

const message = (msgId: string, robotCode = "robot") => ({ msgId, robotCode }) as InboundMessage

describe("Dedup", () => {
  it.effect("a redelivery within the time to live is dropped; after it, the message counts as new", () =>
    Effect.gen(function*() {
      const isFirstSeen = yield* makeDedup({ capacity: 10, ttlMs: 60_000 })
      assert.isTrue(yield* isFirstSeen(message("m1")))
      assert.isFalse(yield* isFirstSeen(message("m1")))
      // The same msgId from another robot is another message.
      assert.isTrue(yield* isFirstSeen(message("m1", "other")))
      yield* TestClock.adjust(Duration.seconds(59))
      assert.isFalse(yield* isFirstSeen(message("m1")))
      yield* TestClock.adjust(Duration.seconds(2))
      assert.isTrue(yield* isFirstSeen(message("m1")))
    }))

  it.effect("past the capacity the oldest keys are forgotten first", () =>
    Effect.gen(function*() {
      const isFirstSeen = yield* makeDedup({ capacity: 3, ttlMs: 60_000 })
      for (const id of ["a", "b", "c", "d"]) assert.isTrue(yield* isFirstSeen(message(id)))
      // "a" made room for "d"; "b", "c" and "d" are still remembered.
      assert.deepStrictEqual(yield* Effect.forEach(["b", "c", "d"], (id) => isFirstSeen(message(id))), [false, false, false])
      assert.isTrue(yield* isFirstSeen(message("a")))
    }))
})
