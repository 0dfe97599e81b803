import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) })
    return { status: response.status, body: await response.json() as any }
  })

describe("DingTalk emulator media", () => {
  it.live("serves a registered file through the robot download API, only with a valid token", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const code = emulator.addMedia(Buffer.from("hello file"), { contentType: "text/plain" })
      const denied = yield* post(`${emulator.url}/v1.0/robot/messageFiles/download`, { downloadCode: code, robotCode: emulator.robotCode })
      assert.strictEqual(denied.status, 401)
      const token = (yield* post(`${emulator.url}/v1.0/oauth2/accessToken`, { appKey: emulator.clientId, appSecret: emulator.clientSecret })).body.accessToken
      const answer = yield* post(`${emulator.url}/v1.0/robot/messageFiles/download`, { downloadCode: code, robotCode: emulator.robotCode }, { "x-acs-dingtalk-access-token": token })
      assert.strictEqual(answer.status, 200)
      const file = yield* Effect.promise(() => fetch(answer.body.downloadUrl))
      assert.strictEqual(file.headers.get("content-type"), "text/plain")
      assert.strictEqual(yield* Effect.promise(() => file.text()), "hello file")
      assert.strictEqual(emulator.downloadCalls, 2)
      assert.strictEqual(emulator.mediaFetches, 1)
    }).pipe(Effect.scoped))

  it.live("records multipart uploads and answers a media_id", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const token = (yield* post(`${emulator.url}/v1.0/oauth2/accessToken`, { appKey: emulator.clientId, appSecret: emulator.clientSecret })).body.accessToken
      const form = new FormData()
      form.append("media", new Blob([Buffer.from([1, 2, 3, 0, 255])], { type: "image/png" }), "chart.png")
      const answer = yield* Effect.promise(async () => (await fetch(`${emulator.url}/media/upload?access_token=${token}&type=image`, { method: "POST", body: form })).json() as Promise<any>)
      assert.strictEqual(answer.errcode, 0)
      assert.match(answer.media_id, /^@/)
      assert.deepStrictEqual(emulator.uploads.map((u) => [u.mediaId, u.type, u.fileName, u.contentType, [...u.data]]), [[answer.media_id, "image", "chart.png", "image/png", [1, 2, 3, 0, 255]]])
      const bad = yield* Effect.promise(async () => (await fetch(`${emulator.url}/media/upload?access_token=wrong&type=image`, { method: "POST", body: form })).json() as Promise<any>)
      assert.strictEqual(bad.errcode, 40014)
    }).pipe(Effect.scoped))

  it.live("pushes every media message type in DingTalk's shape", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const frames: Array<any> = []
      const original = emulator.pushMessage
      // Capture the data the emulator builds (no client is connected: pushes are queued).
      Object.assign(emulator, { pushMessage: (message: any, options: any) => (frames.push(message), original(message, options)) })
      emulator.pushMedia("picture", Buffer.from("p"))
      emulator.pushMedia("file", Buffer.from("f"), { fileName: "a.log" })
      emulator.pushMedia("video", Buffer.from("v"))
      emulator.pushMedia("audio", Buffer.from("a"), { recognition: "hello" })
      emulator.pushMedia("picture", Buffer.from("p"), { downloadCode: null })
      emulator.pushRichText(["look ", { picture: Buffer.from("p") }], { replyTo: { text: "earlier" } })
      assert.deepStrictEqual(frames.map((f) => f.msgtype), ["picture", "file", "video", "audio", "picture", "richText"])
      assert.match(frames[0].content.downloadCode, /^dl-/)
      assert.strictEqual(frames[0].content.pictureDownloadCode, frames[0].content.downloadCode)
      assert.strictEqual(frames[1].content.fileName, "a.log")
      assert.strictEqual(frames[3].content.recognition, "hello")
      assert.isUndefined(frames[4].content.downloadCode)
      assert.strictEqual(frames[5].content.richText[1].type, "picture")
      assert.strictEqual(emulator.queuedPushes, 6)
    }).pipe(Effect.scoped))
})
