import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { ModelCatalog } from "../../src/opencode/ModelCatalog.js"
import { OpenCodeClient } from "../../src/opencode/OpenCodeClient.js"
import { FakeOpenCodeScoped, type FakeOpenCodeOptions } from "../../src/testing/FakeOpenCode.js"

const catalogFor = (options: FakeOpenCodeOptions) =>
  Effect.gen(function*() {
    const fake = yield* FakeOpenCodeScoped(options)
    const config = BridgeConfig.layerFrom({ DINGTALK_CLIENT_ID: "id", DINGTALK_CLIENT_SECRET: "secret", OPENCODE_SERVER_URL: fake.url })
    const context = yield* Layer.build(ModelCatalog.layer.pipe(Layer.provide(OpenCodeClient.layer), Layer.provide(config)))
    return { fake, catalog: Context.get(context, ModelCatalog) }
  })

describe("ModelCatalog", () => {
  it.live("lists models with their image input and the configured default", () =>
    Effect.gen(function*() {
      const { catalog } = yield* catalogFor({ models: [{ ref: "fake/echo" }, { ref: "fake/vision", image: true }, { ref: "other/big", image: true }], defaultModel: "fake/vision" })
      const models = yield* catalog.models
      assert.deepStrictEqual(models.map((m) => [m.ref, m.input.image]), [["fake/echo", false], ["fake/vision", true], ["other/big", true]])
      assert.deepStrictEqual(yield* catalog.defaultModel, Option.some("fake/vision"))
      assert.isTrue(yield* catalog.acceptsImages("fake/vision"))
      assert.isFalse(yield* catalog.acceptsImages("fake/echo"))
      assert.isFalse(yield* catalog.acceptsImages("fake/unknown"))
    }).pipe(Effect.scoped))

  it.live("asks OpenCode once for a burst of lookups", () =>
    Effect.gen(function*() {
      const { fake, catalog } = yield* catalogFor({})
      const before = fake.requests
      yield* Effect.all([catalog.acceptsImages("fake/echo"), catalog.acceptsImages("fake/echo"), catalog.models], { concurrency: "unbounded" })
      assert.strictEqual(fake.requests - before, 1)
    }).pipe(Effect.scoped))

  it.live("a failed lookup is not cached and images fall back to files", () =>
    Effect.gen(function*() {
      const { fake, catalog } = yield* catalogFor({ models: [{ ref: "fake/vision", image: true }] })
      fake.failNext(500)
      assert.isFalse(yield* catalog.acceptsImages("fake/vision"))
      assert.isTrue(yield* catalog.acceptsImages("fake/vision"))
    }).pipe(Effect.scoped))
})
