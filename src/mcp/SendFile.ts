/**
 * `dingtalk_send_file`: lets the agent send a file or a picture (a build log, a chart, a patch) to a
 * DingTalk conversation. The file is a path inside an allowed folder (`BRIDGE_SEND_FILE_DIRS`; by
 * default the attachments folder and OpenCode's project) or bytes with a file name; it is uploaded
 * to DingTalk's media storage and sent through `Delivery` (same rate limit and fallbacks as messages).
 */
import { Effect, Option, Schema } from "effect"
import fs from "node:fs"
import path from "node:path"
import { isInside, safeFileName } from "../core/SafeFileName.js"
import { Conversations } from "../dingtalk/Conversations.js"
import { Delivery, UnknownConversation } from "../dingtalk/Delivery.js"
import { mimeOfName } from "../dingtalk/MediaDownload.js"
import { MediaUpload } from "../dingtalk/MediaUpload.js"
import { ProjectFolders } from "../opencode/ProjectFolders.js"
import { defineTool, ToolError } from "./Tool.js"

/** Picture formats DingTalk shows inline; anything else goes as a file. */
const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".gif", ".bmp"])

const kilobytes = (bytes: number) => bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / (1024 * 1024)).toFixed(1)} MB`

/** A name given with bytes must be a plain file name: no folders, no `..`, no control characters. */
const checkGivenName = (fileName: string): string | undefined => {
  if (/[/\\]/.test(fileName) || fileName === "." || fileName === "..") return `fileName "${fileName}" must be a plain file name, without folders or "..".`
  if (/[\u0000-\u001f\u007f]/.test(fileName)) return "fileName must not contain control characters."
  return undefined
}

const fail = (message: string) => Effect.fail(new ToolError({ message }))

/** Reads `requested` if it resolves (symlinks followed) inside one of `folders`; the reason otherwise. */
const readAllowed = (requested: string, folders: ReadonlyArray<string>, projectDirectory: string, maxBytes: number) =>
  Effect.tryPromise({
    try: async (): Promise<{ data: Buffer; fileName: string } | { refused: string }> => {
      const absolute = path.resolve(projectDirectory, requested)
      const real = await fs.promises.realpath(absolute).catch(() => undefined)
      if (real === undefined) return { refused: `${absolute} does not exist.` }
      const realFolders = await Promise.all(folders.map((folder) => fs.promises.realpath(folder).catch(() => path.resolve(folder))))
      if (!realFolders.some((folder) => isInside(folder, real))) {
        return { refused: `${absolute} is outside the folders files may be sent from (${folders.join(", ")}). Copy the file into the project first, or ask the operator to add its folder to BRIDGE_SEND_FILE_DIRS.` }
      }
      const stat = await fs.promises.stat(real)
      if (!stat.isFile()) return { refused: `${absolute} is not a regular file.` }
      if (stat.size > maxBytes) return { refused: `${absolute} is ${kilobytes(stat.size)}, over the ${kilobytes(maxBytes)} limit (BRIDGE_MAX_ATTACHMENT_BYTES).` }
      return { data: await fs.promises.readFile(real), fileName: path.basename(absolute) }
    },
    catch: (error) => new ToolError({ message: `Could not read ${requested}: ${error instanceof Error ? error.message : String(error)}` }),
  })

/** The tool. */
export const sendFile = defineTool({
  name: "dingtalk_send_file",
  description:
    "Send a file or a picture to a DingTalk conversation the robot has received a message from: a build log, a chart, a patch, a screenshot. " +
    "Give either `path` (a file inside the project or the attachments folder; relative paths are relative to the project) " +
    "or `base64` with `fileName`. PNG, JPEG, GIF and BMP are shown as pictures, other files as file messages (`as` overrides). " +
    "Use dingtalk_list_conversations to find the conversation ID; use dingtalk_send_message for text. " +
    "Returns the file name, its size, how it was sent (image or file) and the route (webhook or robot OpenAPI).",
  annotations: { title: "Send a file to DingTalk", readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  input: Schema.Struct({
    conversationId: Schema.NonEmptyString.annotate({ description: "The conversation ID (starts with \"cid\"), as listed by dingtalk_list_conversations." }),
    path: Schema.optionalKey(Schema.NonEmptyString).annotate({ description: "The file to send: absolute, or relative to the OpenCode project. Must be inside the project or the attachments folder." }),
    base64: Schema.optionalKey(Schema.NonEmptyString).annotate({ description: "The file's bytes, base64-encoded, instead of `path`." }),
    fileName: Schema.optionalKey(Schema.NonEmptyString).annotate({ description: "The name the user sees, e.g. \"build.log\". Required with `base64`; default with `path`: the file's own name." }),
    as: Schema.optionalKey(Schema.Literals(["auto", "image", "file"])).annotate({ description: "\"auto\" (default): pictures as images, the rest as files; \"image\" or \"file\" to choose." }),
  }),
  run: (input) =>
    Effect.gen(function*() {
      const folders = yield* ProjectFolders
      const uploads = yield* MediaUpload
      const delivery = yield* Delivery
      const maxBytes = uploads.maxBytes
      // Nothing is uploaded for a conversation the robot cannot write to.
      if (Option.isNone(yield* Conversations.use((conversations) => conversations.get(input.conversationId)))) {
        return yield* fail(new UnknownConversation({ conversationId: input.conversationId }).message)
      }
      if ((input.path === undefined) === (input.base64 === undefined)) return yield* fail("Give exactly one of `path` or `base64` (with `fileName`).")
      if (input.fileName !== undefined) {
        const problem = checkGivenName(input.fileName)
        if (problem !== undefined) return yield* fail(problem)
      }

      let data: Buffer
      let originalName: string
      if (input.path !== undefined) {
        const allowed = yield* folders.sendableFolders.pipe(Effect.mapError((error) => new ToolError({ message: error.message })))
        const project = yield* folders.projectDirectory.pipe(Effect.mapError((error) => new ToolError({ message: error.message })))
        const read = yield* readAllowed(input.path, allowed, project, maxBytes)
        if ("refused" in read) return yield* fail(`Refused: ${read.refused}`)
        data = read.data
        originalName = input.fileName ?? read.fileName
      } else {
        if (input.fileName === undefined) return yield* fail("`fileName` is required with `base64`.")
        const encoded = input.base64!.replace(/\s+/g, "")
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 === 1) return yield* fail("`base64` is not valid base64.")
        if (Math.floor(encoded.length * 3 / 4) > maxBytes + 3) return yield* fail(`The file is over the ${kilobytes(maxBytes)} limit (BRIDGE_MAX_ATTACHMENT_BYTES).`)
        data = Buffer.from(encoded, "base64")
        originalName = input.fileName
      }
      if (data.length === 0) return yield* fail("The file is empty; DingTalk does not take empty files.")
      const fileName = safeFileName(originalName, "file")
      const kind = input.as === "image" || input.as === "file" ? input.as : IMAGE_EXTENSIONS.has(path.extname(fileName).toLowerCase()) ? "image" : "file"
      const mediaId = yield* uploads.upload({ data, fileName, mime: mimeOfName(fileName), type: kind }).pipe(Effect.mapError((error) => new ToolError({ message: error.message })))
      const receipt = yield* delivery.sendMedia({ conversationId: input.conversationId, kind, mediaId, fileName }).pipe(Effect.mapError((error) => new ToolError({ message: error.message })))
      return {
        text: `Sent ${fileName} (${kilobytes(data.length)}) to ${receipt.conversationId} as ${kind === "image" ? "a picture" : "a file"} via ${receipt.routes.join(" then ")}.`,
        structured: { conversationId: receipt.conversationId, fileName, bytes: data.length, kind, mediaId, routes: [...receipt.routes] },
      }
    }),
})
