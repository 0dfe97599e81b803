import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { OpenCodeClient, textPrompt } from "../../src/opencode/OpenCodeClient.js"

describe("OpenCodeClient", () => {
  it.live("a user:password in OPENCODE_SERVER_URL appears in neither its url nor its errors", () =>
    Effect.gen(function*() {
      const client = yield* OpenCodeClient
      assert.strictEqual(client.url, "http://127.0.0.1:9")
      const error = yield* client.prompt("ses_1", textPrompt("hi")).pipe(Effect.flip)
      assert.strictEqual(error._tag, "OpenCodeUnreachable")
      assert.include(error.message, "http://127.0.0.1:9")
      assert.notInclude(error.message, "s3cret")
    }).pipe(Effect.provide(OpenCodeClient.layer.pipe(Layer.provide(BridgeConfig.layerFrom({
      DINGTALK_CLIENT_ID: "r", DINGTALK_CLIENT_SECRET: "s", OPENCODE_SERVER_URL: "http://admin:s3cret@127.0.0.1:9",
    }))))))
})
