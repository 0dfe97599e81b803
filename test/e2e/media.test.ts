/**
 * Pictures, files, voice and quoted replies end to end: the DingTalk emulator pushes them, the
 * in-process bridge fetches them through the robot download API, and a real `opencode serve`
 * (offline, fake model) shows them to the model — as images when the model takes images, as saved
 * files named in the prompt when it does not.
 */
import { Effect } from "effect"
import fs from "node:fs"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type DingTalkEmulator, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { type FakeModel, type ModelRequest, startFakeModel } from "../../src/testing/FakeModel.js"
import { startBridge, testEnv } from "../support/bridge.js"
import { type RealOpenCode, startRealOpenCode } from "../support/realOpenCode.js"

/** A 1×1 PNG. */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

let visionModel: FakeModel
let textModel: FakeModel
let vision: RealOpenCode
let textOnly: RealOpenCode
let emulator: DingTalkEmulator

/** Runs an in-process bridge against `opencode` for the duration of `body`. */
const withBridge = (opencode: RealOpenCode, body: () => Promise<void>, env: Record<string, string> = {}) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const before = emulator.totalConnections
    yield* startBridge(testEnv(emulator, opencode.url, env))
    // Pushes go to the newest connection ("last"): the previous bridge's socket may linger a moment.
    yield* Effect.promise(() => emulator.waitForNewConnection(before, 10_000))
    yield* Effect.promise(body)
  })))

/** The files saved for a conversation, recursively (partial downloads included). */
const savedFiles = (opencode: RealOpenCode): ReadonlyArray<string> => {
  const root = path.join(opencode.dir, ".dingtalk", "attachments")
  if (!fs.existsSync(root)) return []
  return fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name))
}

/** The last request the model got whose user message mentions `marker`. */
const requestWith = (model: FakeModel, marker: string): ModelRequest | undefined =>
  [...model.requests].reverse().find((request) => JSON.stringify(request.messages.filter((m) => m.role === "user").at(-1) ?? "").includes(marker))

const lastUserText = (request: ModelRequest | undefined): string => {
  const content = request?.messages.filter((m) => m.role === "user").at(-1)?.content
  return typeof content === "string" ? content : Array.isArray(content) ? content.map((p: any) => p?.text ?? "").join("\n") : ""
}

beforeAll(async () => {
  ;[visionModel, textModel, emulator] = await Promise.all([startFakeModel(), startFakeModel(), startDingTalkEmulator({ pick: "last" })])
  ;[vision, textOnly] = await Promise.all([
    startRealOpenCode({ modelUrl: visionModel.url, imageInput: true }),
    startRealOpenCode({ modelUrl: textModel.url }),
  ])
}, 90_000)

afterAll(async () => {
  await Promise.all([vision?.stop(), textOnly?.stop()])
  await Promise.all([visionModel?.close(), textModel?.close(), emulator?.close()])
})

describe("pictures, files and voice with a real OpenCode", () => {
  it("a picture reaches a model that takes images as an image part", async () => {
    await withBridge(vision, async () => {
      emulator.pushMedia("picture", PNG, { conversationId: "cid-pic-vision", contentType: "image/png" })
      const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-pic-vision", timeoutMs: 60_000 })
      expect(reply!.text).toContain("ECHO:")
      const request = requestWith(visionModel, "attachments/cid-pic-vision")
      expect(request?.images).toEqual([`data:image/png;base64,${PNG.toString("base64")}`])
      const saved = savedFiles(vision).filter((file) => file.includes("cid-pic-vision"))
      expect(saved).toHaveLength(1)
      expect(fs.readFileSync(saved[0]!)).toEqual(PNG)
    })
  }, 90_000)

  it("a picture for a model without image input is saved and named in the prompt", async () => {
    await withBridge(textOnly, async () => {
      emulator.pushRichText(["what is wrong here? ", { picture: PNG }], { conversationId: "cid-pic-text" })
      const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-pic-text", timeoutMs: 60_000 })
      const saved = savedFiles(textOnly).filter((file) => file.includes("cid-pic-text"))
      expect(saved).toHaveLength(1)
      expect(saved[0]!.endsWith(".png")).toBe(true)
      expect(reply!.text).toContain("what is wrong here?")
      expect(reply!.text).toContain(saved[0]!)
      const request = requestWith(textModel, "attachments/cid-pic-text")
      expect(request?.images).toEqual([])
      expect(lastUserText(request)).toContain(saved[0]!)
    })
  }, 90_000)

  it("a 25 MB file is refused with a reply and nothing is written", async () => {
    await withBridge(textOnly, async () => {
      const before = textModel.requests.length
      emulator.pushMedia("file", { size: 25 * 1024 * 1024 }, { conversationId: "cid-big", fileName: "huge.log" })
      const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-big", timeoutMs: 60_000 })
      expect(reply!.text).toContain("huge.log")
      expect(reply!.text).toContain("20.0 MB limit")
      expect(savedFiles(textOnly).filter((file) => file.includes("cid-big"))).toEqual([])
      // Nothing else was in the message, so no turn ran.
      emulator.pushMessage({ conversationId: "cid-big", text: "after the big file" })
      const replies = await emulator.waitForReplies(2, { conversationId: "cid-big", timeoutMs: 60_000 })
      expect(replies[1]!.text).toBe("ECHO: after the big file")
      expect(textModel.requests.slice(before).some((request) => lastUserText(request).includes("huge.log"))).toBe(false)
    })
  }, 90_000)

  it("a voice message with DingTalk's transcription reaches the model as its text", async () => {
    await withBridge(textOnly, async () => {
      emulator.pushMedia("audio", Buffer.from("#!AMR\n"), { conversationId: "cid-voice", recognition: "please run the tests" })
      const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-voice", timeoutMs: 60_000 })
      expect(reply!.text).toContain("please run the tests")
      expect(lastUserText(requestWith(textModel, "please run the tests"))).toContain("[Voice message, transcribed by DingTalk:]\nplease run the tests")
      expect(savedFiles(textOnly).filter((file) => file.includes("cid-voice"))).toEqual([])
    })
  }, 90_000)

  it("a quoted reply carries the quoted text, apart from the new text", async () => {
    await withBridge(textOnly, async () => {
      emulator.pushMessage({ conversationId: "cid-quote", text: "why does this fail?", replyTo: { text: "Error: ENOENT build/out.js" } })
      await emulator.waitForReplies(1, { conversationId: "cid-quote", timeoutMs: 60_000 })
      const text = lastUserText(requestWith(textModel, "why does this fail?"))
      expect(text).toContain("> Error: ENOENT build/out.js")
      expect(text.indexOf("> Error: ENOENT")).toBeLessThan(text.indexOf("why does this fail?"))
      expect(text).toContain("[End of quote. The user's new message follows.]\n\nwhy does this fail?")
    })
  }, 90_000)

  it("malformed media messages get a clear reply and the stream keeps running", async () => {
    await withBridge(textOnly, async () => {
      emulator.pushMedia("picture", PNG, { conversationId: "cid-bad", downloadCode: null })
      emulator.pushMessage({ conversationId: "cid-bad", msgtype: "unknownMsgType", content: { unknownMsgType: "a new kind of message" } })
      emulator.pushMedia("file", Buffer.from("log"), { conversationId: "cid-bad", fileName: "gone.log", brokenUrl: true })
      emulator.pushMessage({ conversationId: "cid-bad", text: "still there?" })
      const replies = await emulator.waitForReplies(4, { conversationId: "cid-bad", timeoutMs: 60_000 })
      const texts = replies.map((reply) => reply.text)
      expect(texts).toContainEqual(expect.stringContaining("I could not read that picture message: it came without a download code"))
      expect(texts).toContainEqual(expect.stringContaining("I cannot read unknownMsgType messages yet"))
      expect(texts).toContainEqual(expect.stringContaining("Could not fetch gone.log from DingTalk (the link may have expired); please send it again."))
      expect(texts).toContain("ECHO: still there?")
    })
  }, 90_000)
})
