/**
 * Uploads a file to DingTalk's media storage (`POST {DINGTALK_OAPI_URL}/media/upload?access_token=…&type=…`,
 * multipart field `media`) and returns its `media_id`, which picture and file messages refer to.
 * The robot OpenAPI token works here too; a rejected token is refreshed once.
 */
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { randomUUID } from "node:crypto"
import http from "node:http"
import https from "node:https"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { AccessToken, retryWithFreshToken, TokenRejected } from "./AccessToken.js"

/** DingTalk's media types: what the upload is for. */
export type MediaType = "image" | "file" | "voice" | "video"

/** What to upload. */
export interface UploadRequest {
  readonly data: Uint8Array
  /** Already sanitised. */
  readonly fileName: string
  readonly mime: string
  readonly type: MediaType
}

/** DingTalk did not take the file. */
export class MediaUploadFailed extends Schema.TaggedError<MediaUploadFailed>()("MediaUploadFailed", {
  fileName: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return `DingTalk did not accept the upload of ${this.fileName}: ${this.detail}`
  }
}

/** Answers of `/media/upload` that mean "the access token is bad" (legacy errcodes). */
const TOKEN_ERRCODES = new Set([40001, 40014, 42001, 88])

/** Quotes a file name for a multipart header (no quotes or line breaks can end it early). */
const headerName = (fileName: string) => fileName.replace(/["\r\n\\]/g, "_")

const multipart = (request: UploadRequest) => {
  const boundary = `----dingtalk-mcp-${randomUUID()}`
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="media"; filename="${headerName(request.fileName)}"\r\n` +
      `Content-Type: ${request.mime}\r\n\r\n`
  )
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat([head, request.data, tail]) }
}

/** POSTs a body and reads the (JSON) answer. */
const post = (url: URL, contentType: string, body: Buffer, timeoutMs: number) =>
  Effect.callback<{ status: number; text: string }, string>((resume, signal) => {
    const request = (url.protocol === "https:" ? https : http).request(url, {
      method: "POST",
      headers: { "content-type": contentType, "content-length": body.length, accept: "application/json" },
      timeout: timeoutMs,
    }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("error", (error) => resume(Effect.fail(error.message)))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") })))
    })
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    request.on("error", (error) => resume(Effect.fail(error.message)))
    signal.addEventListener("abort", () => request.destroy())
    request.end(body)
  })

const parse = (text: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** Uploads media for picture and file messages. */
export class MediaUpload extends Context.Service<MediaUpload, {
  /** The `media_id` of the uploaded file. */
  readonly upload: (request: UploadRequest) => Effect.Effect<string, MediaUploadFailed>
  /** The largest file sent (`BRIDGE_MAX_ATTACHMENT_BYTES`, as for received files). */
  readonly maxBytes: number
}>()("dingtalk-mcp-server/MediaUpload") {
  /** Uploads to `DINGTALK_OAPI_URL` with the robot's token. */
  static readonly layer = Layer.effect(
    MediaUpload,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const tokens = yield* AccessToken
      // Uploads are larger than messages: allow a minute on top of the usual timeout.
      const timeoutMs = settings.delivery.httpTimeoutMs + 60_000

      const upload = Effect.fn("MediaUpload.upload")(function*(request: UploadRequest) {
        const fail = (detail: string) => new MediaUploadFailed({ fileName: request.fileName, detail })
        const { contentType, body } = multipart(request)
        const attempt = Effect.gen(function*() {
          const token = yield* tokens.get.pipe(Effect.mapError((error) => fail(error.message)))
          const url = new URL(`${settings.media.oapiUrl}/media/upload`)
          url.searchParams.set("access_token", Redacted.value(token))
          url.searchParams.set("type", request.type)
          const answer = yield* post(url, contentType, body, timeoutMs).pipe(Effect.mapError((detail) => fail(`DingTalk is not reachable at ${settings.media.oapiUrl} (${detail})`)))
          const json = parse(answer.text)
          const errcode = json?.["errcode"]
          if (answer.status === 401 || (typeof errcode === "number" && TOKEN_ERRCODES.has(errcode))) {
            yield* tokens.invalidate
            return yield* new TokenRejected({ detail: `HTTP ${answer.status}, errcode ${String(errcode)}` })
          }
          const mediaId = json?.["media_id"]
          if (answer.status !== 200 || (errcode !== undefined && errcode !== 0) || typeof mediaId !== "string" || mediaId === "") {
            return yield* fail(`HTTP ${answer.status}, errcode ${String(errcode)}: ${String(json?.["errmsg"] ?? answer.text.slice(0, 200))}`)
          }
          return mediaId
        })
        return yield* retryWithFreshToken(attempt, () => fail("DingTalk rejected a fresh access token"))
      })

      return MediaUpload.of({ upload, maxBytes: settings.media.maxAttachmentBytes })
    })
  )
}
