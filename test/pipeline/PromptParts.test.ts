/**
 * The prompt a media message becomes, through the in-process bridge with the emulator and the fake
 * OpenCode (which records the parts it is sent): image parts only for a model that takes images,
 * saved paths in the text, and a lost attachment reported while the text still goes through.
 */
import { Effect } from "effect"
import fs from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { type DingTalkEmulator, startDingTalkEmulator } from "../../src/emulator/DingTalkEmulator.js"
import { type FakeOpenCode, type FakeOpenCodeOptions, startFakeOpenCode } from "../../src/testing/FakeOpenCode.js"
import { startBridge, testEnv } from "../support/bridge.js"
import { cleanupAfterEach } from "../support/resources.js"

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")
const onCleanup = cleanupAfterEach()

const setup = async (options: FakeOpenCodeOptions = {}) => {
  const project = fs.mkdtempSync(path.join(tmpdir(), "prompt-parts-"))
  const emulator = await startDingTalkEmulator()
  const opencode = await startFakeOpenCode({ directory: project, ...options })
  onCleanup(() => fs.rmSync(project, { recursive: true, force: true }), () => emulator.close(), () => opencode.close())
  return { project, emulator, opencode }
}

const withBridge = (emulator: DingTalkEmulator, opencode: FakeOpenCode, body: () => Promise<void>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    yield* startBridge(testEnv(emulator, opencode.url))
    yield* Effect.promise(() => emulator.waitForConnections(1, 10_000))
    yield* Effect.promise(body)
  })))

describe("PromptParts", () => {
  it("a picture for a model that takes images is a file part pointing at the saved file", async () => {
    const { project, emulator, opencode } = await setup({ models: [{ ref: "fake/vision", image: true }] })
    await withBridge(emulator, opencode, async () => {
      emulator.pushRichText(["see this ", { picture: PNG }, " please"], { conversationId: "cid-a" })
      await opencode.waitForPrompts(1, 10_000)
      const [prompt] = opencode.promptParts
      expect(prompt!.parts).toHaveLength(2)
      const [text, file] = prompt!.parts
      expect(text.type).toBe("text")
      expect(text.text).toMatch(/^see this  please\n\n\[The user sent an attachment, saved in the project:\]\n- Picture: .*\.png \(image\/png, 0\.1 KB\) — also attached as an image$/)
      expect(file).toMatchObject({ type: "file", mime: "image/png" })
      const saved = new URL(file.url).pathname
      expect(saved.startsWith(path.join(fs.realpathSync(project), ".dingtalk", "attachments", "cid-a"))).toBe(true)
      expect(fs.readFileSync(saved)).toEqual(PNG)
    })
  }, 20_000)

  it("without image input the picture is only named in the text", async () => {
    const { emulator, opencode } = await setup()
    await withBridge(emulator, opencode, async () => {
      emulator.pushMedia("picture", PNG, { conversationId: "cid-b" })
      await opencode.waitForPrompts(1, 10_000)
      expect(opencode.promptParts[0]!.parts.map((p: { type: string }) => p.type)).toEqual(["text"])
      expect(opencode.promptParts[0]!.parts[0].text).toMatch(/^\[The user sent an attachment, saved in the project:\]\n- Picture: \/.*\.png/)
    })
  }, 20_000)

  it("a reply to a picture brings the quoted picture; an expired one is only noted by the quote", async () => {
    const { emulator, opencode } = await setup()
    await withBridge(emulator, opencode, async () => {
      emulator.pushMessage({ conversationId: "cid-q", text: "what is this?", replyTo: { msgtype: "picture", content: { downloadCode: emulator.addMedia(PNG) } } })
      await opencode.waitForPrompts(1, 10_000)
      const text = opencode.promptParts[0]!.parts[0].text as string
      expect(text).toMatch(/^\[The user is replying to an earlier picture message, quoted here:\]\n> \[a picture message\]\n/)
      expect(text).toMatch(/what is this\?\n\n\[The user sent an attachment, saved in the project:\]\n- Quoted picture: \/.*quoted-picture-.*\.png/)
      emulator.pushMessage({ conversationId: "cid-q", text: "and this?", replyTo: { msgtype: "picture", content: { downloadCode: emulator.addMedia(PNG, { brokenUrl: true }) } } })
      await opencode.waitForPrompts(2, 10_000)
      expect(opencode.promptParts[1]!.parts[0].text).not.toContain("attachment")
      // The reply is the agent's answer only: no warning about the quoted picture.
      const replies = await emulator.waitForReplies(2, { conversationId: "cid-q", timeoutMs: 10_000 })
      expect(replies.map((r) => r.text).filter((t) => t.startsWith("⚠️"))).toEqual([])
    })
  }, 20_000)

  it("a voice note without transcription is saved as audio; a broken link is reported and the text goes on", async () => {
    const { emulator, opencode } = await setup()
    await withBridge(emulator, opencode, async () => {
      emulator.pushMedia("audio", Buffer.from("#!AMR\n0000"), { conversationId: "cid-c" })
      await opencode.waitForPrompts(1, 10_000)
      expect(opencode.promptParts[0]!.parts[0].text).toMatch(/- Voice message: \/.*\.amr \(audio\/amr/)
      const code = emulator.addMedia(PNG, { brokenUrl: true })
      emulator.pushMessage({ conversationId: "cid-c", msgtype: "richText", content: { richText: [{ text: "look at this" }, { type: "picture", downloadCode: code }] } })
      const replies = await emulator.waitForReplies(3, { conversationId: "cid-c", timeoutMs: 10_000 })
      expect(replies.map((r) => r.text)).toContainEqual(expect.stringMatching(/^⚠️ Could not fetch picture-.* from DingTalk \(the link may have expired\); please send it again\.\nThe rest of your message went to the agent\.$/))
      await opencode.waitForPrompts(2, 10_000)
      expect(opencode.promptParts[1]!.parts).toEqual([{ type: "text", text: "look at this" }])
    })
  }, 20_000)
})
