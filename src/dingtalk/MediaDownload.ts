/**
 * Fetches a file a user sent the robot: the robot API turns the message's `downloadCode` into a
 * short-lived URL (`POST /v1.0/robot/messageFiles/download`), which is streamed straight to disk
 * with a byte cap. Over the cap, or on any failure, nothing is left behind (the partial file is
 * deleted); an existing file is never overwritten.
 */
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { randomUUID } from "node:crypto"
import fs from "node:fs"
import http from "node:http"
import https from "node:https"
import path from "node:path"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { isInside, safeFileName } from "../core/SafeFileName.js"
import { AccessToken, retryWithFreshToken, TokenRejected } from "./AccessToken.js"
import { DingTalkHttp } from "./DingTalkHttp.js"

/** The file is larger than `BRIDGE_MAX_ATTACHMENT_BYTES`; nothing was written. */
export class AttachmentTooLarge extends Schema.TaggedError<AttachmentTooLarge>()("AttachmentTooLarge", {
  fileName: Schema.String,
  limitBytes: Schema.Number,
  /** The size DingTalk announced, when it did. */
  sizeBytes: Schema.optional(Schema.Number),
}) {
  override get message() {
    const size = this.sizeBytes === undefined ? "larger than" : `${megabytes(this.sizeBytes)}, over`
    return `${this.fileName} is ${size} the ${megabytes(this.limitBytes)} limit for attachments, so it was not saved. ` +
      "Send a smaller file, or ask the operator to raise BRIDGE_MAX_ATTACHMENT_BYTES."
  }
}

/** The file could not be fetched or saved. */
export class AttachmentDownloadFailed extends Schema.TaggedError<AttachmentDownloadFailed>()("AttachmentDownloadFailed", {
  fileName: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return `Could not fetch ${this.fileName} from DingTalk: ${this.detail}`
  }
}

/** Everything that can go wrong fetching an attachment. */
export type MediaDownloadError = AttachmentTooLarge | AttachmentDownloadFailed

/** What to fetch and where to put it. */
export interface DownloadRequest {
  readonly robotCode: string
  readonly downloadCode: string
  /** The folder to save in (created when missing); the file never lands outside it. */
  readonly directory: string
  /** The sender's file name or a made-up one; sanitised, and given an extension from the content type when it has none. */
  readonly fileName: string
}

/** A saved attachment. */
export interface DownloadedFile {
  /** Absolute path of the saved file. */
  readonly path: string
  readonly fileName: string
  readonly bytes: number
  /** From the answer's `Content-Type`, else from the first bytes, else from the extension. */
  readonly mime: string
}

const megabytes = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MB`

const DownloadAnswer = Schema.Struct({ downloadUrl: Schema.optional(Schema.String), data: Schema.optional(Schema.Struct({ downloadUrl: Schema.optional(Schema.String) })) })

const MAX_REDIRECTS = 3

class TooLarge {
  readonly _tag = "TooLarge"
  constructor(readonly sizeBytes: number | undefined) {}
}
class Failed {
  readonly _tag = "Failed"
  constructor(readonly detail: string) {}
}

/** Streams `url` into `target` (created exclusively); fails with `TooLarge` past `maxBytes`. */
const streamToFile = (url: URL, target: string, maxBytes: number, idleTimeoutMs: number, redirectsLeft: number): Effect.Effect<{ bytes: number; contentType: string | undefined; head: Buffer }, TooLarge | Failed> =>
  Effect.callback<{ bytes: number; contentType: string | undefined; head: Buffer }, TooLarge | Failed>((resume, signal) => {
    let settled = false
    const settle = (effect: Effect.Effect<{ bytes: number; contentType: string | undefined; head: Buffer }, TooLarge | Failed>) => {
      if (settled) return
      settled = true
      resume(effect)
    }
    const request = (url.protocol === "https:" ? https : http).get(url, { timeout: idleTimeoutMs }, (response) => {
      const status = response.statusCode ?? 0
      const location = response.headers.location
      if (status >= 300 && status < 400 && location !== undefined && redirectsLeft > 0) {
        response.resume()
        return settle(streamToFile(new URL(location, url), target, maxBytes, idleTimeoutMs, redirectsLeft - 1))
      }
      if (status !== 200) {
        response.resume()
        return settle(Effect.fail(new Failed(`the download answered HTTP ${status}`)))
      }
      const declared = Number(response.headers["content-length"])
      if (Number.isFinite(declared) && declared > maxBytes) {
        request.destroy()
        return settle(Effect.fail(new TooLarge(declared)))
      }
      const out = fs.createWriteStream(target, { flags: "wx" })
      let bytes = 0
      let head = Buffer.alloc(0)
      const fail = (error: TooLarge | Failed) => {
        request.destroy()
        out.destroy()
        settle(Effect.fail(error))
      }
      out.on("error", (error) => fail(new Failed(`could not write the file (${error.message})`)))
      response.on("error", (error) => fail(new Failed(error.message)))
      response.on("data", (chunk: Buffer) => {
        bytes += chunk.length
        if (head.length < 16) head = Buffer.concat([head, chunk.subarray(0, 16 - head.length)])
        if (bytes > maxBytes) return fail(new TooLarge(undefined))
        if (!out.write(chunk)) {
          response.pause()
          out.once("drain", () => response.resume())
        }
      })
      response.on("end", () => {
        if (settled) return
        out.end(() => settle(Effect.succeed({ bytes, contentType: response.headers["content-type"], head })))
      })
    })
    request.on("timeout", () => request.destroy(new Error(`no data for ${idleTimeoutMs} ms`)))
    request.on("error", (error) => settle(Effect.fail(new Failed(error.message))))
    signal.addEventListener("abort", () => request.destroy())
  })

/** Content types worth trusting from the first bytes when the server says `application/octet-stream`. */
export const sniffMime = (head: Buffer): string | undefined => {
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return "image/png"
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "image/jpeg"
  if (head.subarray(0, 6).toString("latin1") === "GIF87a" || head.subarray(0, 6).toString("latin1") === "GIF89a") return "image/gif"
  if (head.subarray(0, 4).toString("latin1") === "RIFF" && head.subarray(8, 12).toString("latin1") === "WEBP") return "image/webp"
  if (head.subarray(0, 5).toString("latin1") === "%PDF-") return "application/pdf"
  if (head.subarray(0, 6).toString("latin1") === "#!AMR\n") return "audio/amr"
  if (head.subarray(4, 8).toString("latin1") === "ftyp") return "video/mp4"
  return undefined
}

const extensionMimes: Record<string, string> = {
  ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp",
  ".pdf": "application/pdf", ".txt": "text/plain", ".md": "text/markdown", ".json": "application/json", ".log": "text/plain",
  ".csv": "text/csv", ".zip": "application/zip", ".mp4": "video/mp4", ".mov": "video/quicktime", ".amr": "audio/amr",
  ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".wav": "audio/wav", ".ogg": "audio/ogg",
}

/** The MIME type of a file name by its extension; `application/octet-stream` when unknown. */
export const mimeOfName = (fileName: string): string => extensionMimes[path.extname(fileName).toLowerCase()] ?? "application/octet-stream"

/** An extension for a MIME type, for names that have none. */
const extensionOf = (mime: string): string => {
  const found = Object.entries(extensionMimes).find(([, type]) => type === mime)
  return found?.[0] ?? ".bin"
}

/** `name.ext`, `name (2).ext`, … */
const candidateName = (fileName: string, attempt: number) => {
  if (attempt === 1) return fileName
  const ext = path.extname(fileName)
  return `${fileName.slice(0, fileName.length - ext.length)} (${attempt})${ext}`
}

/** Downloads robot message files. */
export class MediaDownload extends Context.Service<MediaDownload, {
  readonly download: (request: DownloadRequest) => Effect.Effect<DownloadedFile, MediaDownloadError>
}>()("dingtalk-mcp-server/MediaDownload") {
  /** Over the shared DingTalk pool and token; the cap is `BRIDGE_MAX_ATTACHMENT_BYTES`. */
  static readonly layer = Layer.effect(
    MediaDownload,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const dingtalkHttp = yield* DingTalkHttp
      const tokens = yield* AccessToken
      const maxBytes = settings.media.maxAttachmentBytes

      const downloadUrl = (request: DownloadRequest, fileName: string) => {
        const fail = (detail: string) => new AttachmentDownloadFailed({ fileName, detail })
        const attempt = Effect.gen(function*() {
          const token = yield* tokens.get.pipe(Effect.mapError((error) => fail(error.message)))
          const answer = yield* dingtalkHttp.postJson(`${settings.dingtalk.apiUrl}/v1.0/robot/messageFiles/download`, {
            downloadCode: request.downloadCode,
            robotCode: request.robotCode,
          }, { headers: { "x-acs-dingtalk-access-token": Redacted.value(token) } }).pipe(Effect.mapError((error) => fail(error.message)))
          if (answer.status === 401) {
            yield* tokens.invalidate
            return yield* new TokenRejected({ detail: "HTTP 401" })
          }
          const detail = JSON.stringify(answer.body ?? null).slice(0, 200)
          if (answer.status !== 200) return yield* fail(`the robot download API answered HTTP ${answer.status}: ${detail}`)
          const decoded = Schema.decodeUnknownOption(DownloadAnswer)(answer.body)
          const url = decoded._tag === "Some" ? decoded.value.downloadUrl ?? decoded.value.data?.downloadUrl : undefined
          if (url === undefined || url === "") return yield* fail(`the robot download API gave no downloadUrl: ${detail}`)
          return yield* Effect.try({ try: () => new URL(url), catch: () => fail("the robot download API gave an invalid downloadUrl") })
        })
        // A rejected token is refreshed once.
        return retryWithFreshToken(attempt, () => fail("DingTalk rejected a fresh access token"))
      }

      const download = Effect.fn("MediaDownload.download")(function*(request: DownloadRequest) {
        const requested = safeFileName(request.fileName)
        const fail = (detail: string) => new AttachmentDownloadFailed({ fileName: requested, detail })
        const url = yield* downloadUrl(request, requested)
        const directory = path.resolve(request.directory)
        yield* Effect.tryPromise({ try: () => fs.promises.mkdir(directory, { recursive: true }), catch: (error) => fail(`could not create ${directory} (${String(error)})`) })
        const temporary = path.join(directory, `.download-${randomUUID()}.part`)
        const fetched = yield* streamToFile(url, temporary, maxBytes, settings.delivery.httpTimeoutMs, MAX_REDIRECTS).pipe(
          Effect.mapError((error) =>
            error._tag === "TooLarge"
              ? new AttachmentTooLarge({ fileName: requested, limitBytes: maxBytes, ...(error.sizeBytes === undefined ? {} : { sizeBytes: error.sizeBytes }) })
              : fail(error.detail)
          ),
          Effect.onExit((exit) => exit._tag === "Success" ? Effect.void : removeQuietly(temporary))
        )
        const declared = fetched.contentType?.split(";")[0]?.trim().toLowerCase()
        const mime = declared !== undefined && declared !== "" && declared !== "application/octet-stream"
          ? declared
          : sniffMime(fetched.head) ?? mimeOfName(requested)
        const fileName = path.extname(requested) === "" ? `${requested}${extensionOf(mime)}` : requested
        // A hard link never replaces an existing file: the first free "name (n).ext" wins.
        const saved = yield* Effect.tryPromise({
          try: async () => {
            for (let attempt = 1; attempt < 1000; attempt++) {
              const target = path.join(directory, candidateName(fileName, attempt))
              if (!isInside(directory, target)) throw new Error("the file name leaves the attachments folder")
              try {
                await fs.promises.link(temporary, target)
                return target
              } catch (error) {
                if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
              }
            }
            throw new Error("too many files with that name")
          },
          catch: (error) => fail(`could not save the file (${error instanceof Error ? error.message : String(error)})`),
        }).pipe(Effect.ensuring(removeQuietly(temporary)))
        return { path: saved, fileName: path.basename(saved), bytes: fetched.bytes, mime } satisfies DownloadedFile
      })

      return MediaDownload.of({ download })
    })
  )
}

const removeQuietly = (file: string) => Effect.promise(() => fs.promises.rm(file, { force: true }).catch(() => undefined))
