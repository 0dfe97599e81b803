import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, References } from "effect"
import fs from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { ServicesLayer } from "../../src/app/BridgeLayer.js"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { MediaDownload, mimeOfName, sniffMime } from "../../src/dingtalk/MediaDownload.js"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { testEnv } from "../support/bridge.js"

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

const setup = (extra: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const emulator = yield* DingTalkEmulatorScoped()
    const directory = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(tmpdir(), "media-download-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    const quiet = Layer.mergeAll(Logger.layer([]), Layer.succeed(References.MinimumLogLevel, "None"))
    const context = yield* Layer.build(ServicesLayer.pipe(Layer.provideMerge(BridgeConfig.layerFrom(testEnv(emulator, "http://127.0.0.1:9", extra))), Layer.provideMerge(quiet)))
    return { emulator, directory, downloads: Context.get(context, MediaDownload) }
  })

const filesIn = (directory: string) => fs.readdirSync(directory)

describe("MediaDownload", () => {
  it("tells common types from their first bytes, and from the extension", () => {
    assert.strictEqual(sniffMime(PNG), "image/png")
    assert.strictEqual(sniffMime(Buffer.from([0xff, 0xd8, 0xff, 0xe0])), "image/jpeg")
    assert.strictEqual(sniffMime(Buffer.from("GIF89a....")), "image/gif")
    assert.strictEqual(sniffMime(Buffer.from("%PDF-1.7")), "application/pdf")
    assert.strictEqual(sniffMime(Buffer.from("#!AMR\n....")), "audio/amr")
    assert.strictEqual(sniffMime(Buffer.from("\0\0\0\x18ftypmp42")), "video/mp4")
    assert.isUndefined(sniffMime(Buffer.from("hello")))
    assert.strictEqual(mimeOfName("build.LOG"), "text/plain")
    assert.strictEqual(mimeOfName("x.unknown"), "application/octet-stream")
  })

  it.live("saves the file under its sanitised name, with the type from its first bytes, never overwriting", () =>
    Effect.gen(function*() {
      const { emulator, directory, downloads } = yield* setup()
      const code = emulator.addMedia(PNG)
      const first = yield* downloads.download({ robotCode: emulator.robotCode, downloadCode: code, directory, fileName: "../../shot" })
      assert.strictEqual(first.path, path.join(directory, "shot.png"))
      assert.strictEqual(first.mime, "image/png")
      assert.strictEqual(first.bytes, PNG.length)
      const second = yield* downloads.download({ robotCode: emulator.robotCode, downloadCode: code, directory, fileName: "shot.png" })
      assert.strictEqual(second.fileName, "shot (2).png")
      assert.deepStrictEqual(filesIn(directory).sort(), ["shot (2).png", "shot.png"])
    }).pipe(Effect.scoped))

  it.live("a file over the cap is refused whether or not its size is announced, and nothing is left behind", () =>
    Effect.gen(function*() {
      const { emulator, directory, downloads } = yield* setup({ BRIDGE_MAX_ATTACHMENT_BYTES: "100000" })
      for (const chunked of [false, true]) {
        const code = emulator.addMedia({ size: 300_000 }, { chunked })
        const error = yield* downloads.download({ robotCode: emulator.robotCode, downloadCode: code, directory, fileName: "big.bin" }).pipe(Effect.flip)
        assert.strictEqual(error._tag, "AttachmentTooLarge")
        assert.match(error.message, chunked ? /big\.bin is larger than the 0\.10 MB limit/ : /big\.bin is 0\.29 MB, over the 0\.10 MB limit/)
      }
      assert.deepStrictEqual(filesIn(directory), [])
    }).pipe(Effect.scoped))

  it.live("an unknown download code or an expired URL is a failure that names the file", () =>
    Effect.gen(function*() {
      const { emulator, directory, downloads } = yield* setup()
      const unknown = yield* downloads.download({ robotCode: emulator.robotCode, downloadCode: "nope", directory, fileName: "a.txt" }).pipe(Effect.flip)
      assert.match(unknown.message, /^Could not fetch a\.txt from DingTalk: the robot download API answered HTTP 400/)
      const broken = yield* downloads.download({ robotCode: emulator.robotCode, downloadCode: emulator.addMedia(Buffer.from("x"), { brokenUrl: true }), directory, fileName: "b.txt" }).pipe(Effect.flip)
      assert.match(broken.message, /HTTP 403/)
      assert.deepStrictEqual(filesIn(directory), [])
    }).pipe(Effect.scoped))
})
