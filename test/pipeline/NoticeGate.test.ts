import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { makeNoticeGate } from "../../src/pipeline/NoticeGate.js"

describe("NoticeGate", () => {
  it.effect("one notice per sender and kind per window", () =>
    Effect.gen(function*() {
      const gate = makeNoticeGate({ perSenderWindowMs: 600_000, budget: 100 })
      assert.isTrue(yield* gate.admit("access", "li"))
      assert.isFalse(yield* gate.admit("access", "li"))
      assert.isTrue(yield* gate.admit("busy", "li"))
      assert.isTrue(yield* gate.admit("access", "mei"))
      yield* TestClock.adjust("9 minutes")
      assert.isFalse(yield* gate.admit("access", "li"))
      yield* TestClock.adjust("1 minute")
      assert.isTrue(yield* gate.admit("access", "li"))
    }))

  it.effect("all senders together stay within the budget; a sender held back by it is not marked as notified", () =>
    Effect.gen(function*() {
      const gate = makeNoticeGate({ budget: 5, budgetWindowMs: 60_000 })
      const admitted = []
      for (let i = 0; i < 500; i++) admitted.push(yield* gate.admit("access", `outsider-${i}`))
      assert.strictEqual(admitted.filter(Boolean).length, 5)
      assert.isFalse(yield* gate.admit("access", "late"))
      yield* TestClock.adjust("1 minute")
      assert.isTrue(yield* gate.admit("access", "late"))
      assert.isFalse(yield* gate.admit("access", "outsider-0"))
    }))
})
