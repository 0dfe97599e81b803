import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { CardFailed, Cards } from "../../src/dingtalk/Cards.js"
import { makeLiveCard } from "../../src/dingtalk/LiveCard.js"

interface Call {
  readonly kind: "create" | "stream" | "finalize" | "finish"
  readonly content: string
  readonly at: number
}

/** A `Cards` that records calls with their (test) time; each call takes `callMs`; `failStream` decides failures. */
const fakeCards = (options: { readonly callMs?: number; readonly failStream?: (n: number) => CardFailed | undefined } = {}) => {
  const calls: Array<Call> = []
  const pauses: Array<string> = []
  let streams = 0
  const record = (kind: Call["kind"], content: string) =>
    Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      if ((options.callMs ?? 0) > 0) yield* Effect.sleep(options.callMs!)
      calls.push({ kind, content, at })
    })
  const layer = Layer.succeed(Cards, Cards.of({
    usable: () => Effect.succeed(true),
    create: (_target, _id, content) => record("create", content),
    stream: (_id, content, finalize) =>
      Effect.suspend(() => {
        const failure = finalize ? undefined : options.failStream?.(++streams)
        return failure === undefined ? record(finalize ? "finalize" : "stream", content) : Effect.fail(failure)
      }),
    finish: (_id, content) => record("finish", content),
    pause: (failure) => Effect.sync(() => void pauses.push(failure.message)),
    status: Effect.succeed({ enabled: true, pausedUntil: undefined, pauseReason: undefined }),
    updateMs: 1_000,
    maxBytes: 16_000,
  }))
  return { calls, pauses, layer }
}

const target = { conversationId: "cid", conversationType: "single" as const, senderStaffId: "staff" }
const settle = Effect.forEach(Array.from({ length: 20 }), () => Effect.yieldNow, { discard: true })
const qpsLimit = new CardFailed({ api: "/v1.0/card/streaming", status: 403, code: "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", detail: "", throttled: true })

describe("LiveCard", () => {
  it.effect("creates at once, then updates at most once per interval with the newest text; the finalize always goes out", () => {
    const cards = fakeCards()
    return Effect.gen(function*() {
      const card = yield* makeLiveCard(target)
      yield* card.show(() => "a", true)
      yield* settle
      for (const text of ["ab", "abc", "abcd"]) yield* card.show(() => text, true)
      yield* settle
      yield* TestClock.adjust("999 millis")
      yield* settle
      assert.deepStrictEqual(cards.calls.map((c) => c.kind), ["create"])
      yield* TestClock.adjust("1 millis")
      yield* settle
      yield* card.show(() => "abcde", true)
      yield* settle
      yield* TestClock.adjust("500 millis")
      yield* settle
      assert.isTrue(yield* card.finish("final answer", "done"))
      assert.deepStrictEqual(cards.calls.map((c) => [c.kind, c.content, c.at]), [
        ["create", "a", 0],
        ["stream", "abcd", 1_000],
        // The pending "abcde" is dropped: the finalize carries the full text, without waiting for the interval.
        ["finalize", "final answer", 1_500],
        ["finish", "final answer", 1_500],
      ])
      assert.strictEqual(card.updates(), 1)
      assert.strictEqual(card.firstTextAt(), 0)
    }).pipe(Effect.provide(cards.layer))
  })

  it.effect("the finalize waits for the call in flight, and the interval counts from its end", () => {
    const cards = fakeCards({ callMs: 300 })
    return Effect.gen(function*() {
      const card = yield* makeLiveCard(target)
      yield* card.show(() => "a", true)
      yield* settle
      yield* TestClock.adjust("300 millis") // create done at 300
      yield* settle
      yield* card.show(() => "ab", true)
      yield* settle
      yield* TestClock.adjust("1000 millis") // update starts at 1300
      yield* settle
      yield* TestClock.adjust("100 millis")
      const finishing = yield* Effect.forkChild(card.finish("abc", "done"))
      yield* settle
      yield* TestClock.adjust("1000 millis")
      yield* settle
      assert.isTrue(yield* Fiber.join(finishing))
      assert.deepStrictEqual(cards.calls.map((c) => [c.kind, c.at]), [["create", 0], ["stream", 1_300], ["finalize", 1_600], ["finish", 1_900]])
    }).pipe(Effect.provide(cards.layer))
  })

  it.effect("a QPS limit on one update is skipped; three in a row give the card up and pause cards", () => {
    const cards = fakeCards({ failStream: (n) => (n === 1 || n >= 3 ? qpsLimit : undefined) })
    return Effect.gen(function*() {
      const card = yield* makeLiveCard(target)
      for (let i = 1; i <= 6; i++) {
        yield* card.show(() => `text ${i}`, true)
        yield* settle
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      assert.isTrue(card.failed())
      assert.strictEqual(cards.pauses.length, 1)
      assert.match(cards.pauses[0]!, /QpsLimit/)
      assert.isFalse(yield* card.finish("final", "done"))
      assert.deepStrictEqual(cards.calls.map((c) => c.kind), ["create", "stream"])
    }).pipe(Effect.provide(cards.layer))
  })
})
