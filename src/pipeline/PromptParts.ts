/**
 * Stage 4½: the prompt of a message as OpenCode parts. Attachments are fetched the moment the
 * message arrives (download codes and URLs are short-lived), in the background so the stream goes
 * on; the turn waits for them. Pictures go to the model as image parts when its model takes images,
 * everything is saved under the conversation's attachments folder and named by absolute path in the
 * text. A quoted message comes first, visibly apart from the new text. A failed attachment is
 * reported to the user; the rest of the message still goes to the agent.
 */
import { Effect, Fiber, Option, Scope } from "effect"
import { pathToFileURL } from "node:url"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { Messages, type MessagesShape } from "../core/Messages.js"
import { Delivery } from "../dingtalk/Delivery.js"
import { type DownloadedFile, MediaDownload, type MediaDownloadError, megabytes } from "../dingtalk/MediaDownload.js"
import type { InboundMessage, MediaRef, QuotedMessage } from "../dingtalk/RobotMessage.js"
import { ModelCatalog } from "../opencode/ModelCatalog.js"
import type { PromptPart } from "../opencode/OpenCodeClient.js"
import { ProjectFolders } from "../opencode/ProjectFolders.js"
import { ChatSettings } from "./ChatSettings.js"

/** An attachment that was saved, and whether the model sees it as an image. */
interface Saved {
  readonly ref: MediaRef
  readonly file: DownloadedFile
  readonly asImage: boolean
}

const kindLabel: Record<MediaRef["kind"], string> = { picture: "Picture", file: "File", video: "Video", audio: "Voice message" }

/** What the sender reads about a lost attachment: the size limit as is, other failures without DingTalk's raw answer (logged instead). */
const forUser = (messages: MessagesShape, error: MediaDownloadError): string =>
  error._tag === "AttachmentTooLarge"
    ? error.sizeBytes === undefined
      ? messages.text("attachment.tooLargeUnknownSize", { file: error.fileName, limit: megabytes(error.limitBytes) })
      : messages.text("attachment.tooLarge", { file: error.fileName, size: megabytes(error.sizeBytes), limit: megabytes(error.limitBytes) })
    : messages.text("attachment.notFetched", { file: error.fileName })

/** A name for an attachment without one: `picture-<msgId>-<n>`. */
const suggestedName = (message: InboundMessage, ref: MediaRef, index: number): string => {
  if (ref.fileName !== undefined) return ref.fileName
  if (ref.quoted === true) return `quoted-picture-${message.msgId.replace(/[^A-Za-z0-9]/g, "").slice(-10) || "message"}`
  const id = message.msgId.replace(/[^A-Za-z0-9]/g, "").slice(-10) || "message"
  return `${ref.kind}-${id}${index > 0 ? `-${index + 1}` : ""}`
}

const kilobytes = (bytes: number) => bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / (1024 * 1024)).toFixed(1)} MB`

/** The quoted message as a block the model cannot mistake for the new text. */
export const quoteBlock = (quote: QuotedMessage): string =>
  [`[The user is replying to an earlier ${quote.msgtype} message, quoted here:]`, ...quote.text.split("\n").map((line) => `> ${line}`), "[End of quote. The user's new message follows.]"].join("\n")

/** The text part: quote, the message (marked when it was a voice note), then the saved attachments. */
export const promptText = (message: InboundMessage, text: string, saved: ReadonlyArray<Saved>): string => {
  const blocks: Array<string> = []
  if (message.quote !== undefined) blocks.push(quoteBlock(message.quote))
  if (text !== "") blocks.push(message.transcribed === true ? `[Voice message, transcribed by DingTalk:]\n${text}` : text)
  if (saved.length > 0) {
    const lines = saved.map(({ ref, file, asImage }) =>
      `- ${ref.quoted === true ? "Quoted picture" : kindLabel[ref.kind]}: ${file.path} (${file.mime}, ${kilobytes(file.bytes)})${asImage ? " — also attached as an image" : ""}`
    )
    blocks.push([`[The user sent ${saved.length === 1 ? "an attachment" : `${saved.length} attachments`}, saved in the project:]`, ...lines].join("\n"))
  }
  return blocks.join("\n\n")
}

/** Builds the prompt of a turn message; `forkIn` runs downloads in the bridge's scope. */
export const makePromptParts = Effect.gen(function*() {
  const downloads = yield* MediaDownload
  const folders = yield* ProjectFolders
  const catalog = yield* ModelCatalog
  const delivery = yield* Delivery
  const metrics = yield* BridgeMetrics
  const messages = yield* Messages
  const scope = yield* Scope.Scope

  const tell = (conversationId: string, text: string) =>
    delivery.send({ conversationId, text, format: "text" }).pipe(
      Effect.catch((error) => Effect.logWarning("Attachment notice not delivered").pipe(Effect.annotateLogs({ conversationId, error: error.message }))),
      Effect.forkIn(scope),
      Effect.asVoid
    )

  const chatSettings = yield* Effect.serviceOption(ChatSettings)

  // The conversation's model (chosen with /model, else OpenCode's default) decides whether pictures are images or files.
  const modelOf = (conversationId: string) =>
    Effect.gen(function*() {
      if (Option.isSome(chatSettings)) {
        const chosen = (yield* chatSettings.value.promptOptions(conversationId)).model
        if (chosen !== undefined) return Option.some(`${chosen.providerID}/${chosen.modelID}`)
      }
      return yield* catalog.defaultModel
    })
  const takesImages = (conversationId: string) =>
    modelOf(conversationId).pipe(
      Effect.flatMap(Option.match({ onNone: () => Effect.succeed(false), onSome: (ref) => catalog.acceptsImages(ref) })),
      Effect.orElseSucceed(() => false)
    )

  const fetchAll = (message: InboundMessage, attachments: ReadonlyArray<MediaRef>) =>
    Effect.gen(function*() {
      const saved: Array<Saved> = []
      const problems: Array<string> = []
      const folder = yield* folders.attachmentsFor(message.conversationId).pipe(Effect.result)
      if (folder._tag === "Failure") {
        yield* metrics.increment("attachmentsFailed", attachments.length)
        yield* Effect.logWarning("No attachments folder; attachments not saved").pipe(Effect.annotateLogs({ error: folder.failure.message }))
        problems.push(messages.text(attachments.length === 1 ? "attachment.folderUnusableOne" : "attachment.folderUnusableMany"))
        return { saved, problems }
      }
      const images = attachments.some((ref) => ref.kind === "picture") ? yield* takesImages(message.conversationId) : false
      for (const [index, ref] of attachments.entries()) {
        const outcome = yield* downloads.download({
          robotCode: message.robotCode,
          downloadCode: ref.downloadCode,
          directory: folder.success,
          fileName: suggestedName(message, ref, index),
        }).pipe(Effect.result)
        if (outcome._tag === "Failure") {
          yield* metrics.increment("attachmentsFailed")
          yield* Effect.logWarning("Attachment not saved").pipe(Effect.annotateLogs({ kind: ref.kind, quoted: ref.quoted === true, error: outcome.failure.message }))
          // A quoted picture is a bonus: its text note is in the quote already, so its loss is only logged.
          if (ref.quoted !== true) problems.push(forUser(messages, outcome.failure))
          continue
        }
        const file = outcome.success
        yield* metrics.increment("attachmentsSaved")
        yield* Effect.logInfo(`Saved ${ref.kind} ${file.fileName} (${file.bytes} bytes)`)
        saved.push({ ref, file, asImage: images && ref.kind === "picture" && file.mime.startsWith("image/") })
      }
      return { saved, problems }
    })

  /**
   * Starts fetching the message's attachments now; the returned effect waits for them and yields the
   * prompt parts (empty when nothing is left to send: the user has been told why).
   */
  const prepare = (message: InboundMessage, text: string) =>
    Effect.gen(function*() {
      const attachments = message.attachments ?? []
      if (attachments.length === 0) return Effect.succeed<ReadonlyArray<PromptPart>>([{ type: "text", text: promptText(message, text, []) }])
      const fiber = yield* Effect.forkIn(fetchAll(message, attachments), scope)
      return Fiber.join(fiber).pipe(
        Effect.flatMap(({ saved, problems }) =>
          Effect.gen(function*() {
            const nothingLeft = saved.length === 0 && text === "" && message.quote === undefined
            if (problems.length > 0) {
              const lost = problems.map((problem) => messages.text("turn.failedPrefix", { reason: problem })).join("\n")
              yield* tell(message.conversationId, nothingLeft ? lost : [lost, messages.text("attachment.restSent")].join("\n"))
            }
            if (nothingLeft) return []
            const parts: Array<PromptPart> = [{ type: "text", text: promptText(message, text, saved) }]
            for (const { file, asImage } of saved) {
              if (asImage) parts.push({ type: "file", mime: file.mime, url: pathToFileURL(file.path).href, filename: file.fileName })
            }
            return parts
          })
        ),
        Effect.annotateLogs({ conversationId: message.conversationId, msgId: message.msgId })
      )
    })

  return { prepare }
})

/** What `makePromptParts` gives. */
export type PromptParts = Effect.Success<typeof makePromptParts>
