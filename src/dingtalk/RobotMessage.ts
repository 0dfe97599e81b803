/**
 * The robot message DingTalk pushes on `/v1.0/im/bot/messages/get`, as a Schema, and its
 * normalised form the pipeline works with. Defined once; everything else imports from here.
 */
import { Schema } from "effect"

const TextContent = Schema.Struct({
  content: Schema.String,
  /** A reply to an earlier message: `repliedMsg` holds it (see `quoteOf`). */
  isReplyMsg: Schema.optional(Schema.Boolean),
  repliedMsg: Schema.optional(Schema.Unknown),
})

const RichTextItem = Schema.Struct({
  text: Schema.optional(Schema.String),
  type: Schema.optional(Schema.String),
})

const AtUser = Schema.Struct({ dingtalkId: Schema.optional(Schema.String), staffId: Schema.optional(Schema.String) })

/** The JSON object inside a CALLBACK frame's `data` string. Unknown fields are ignored. */
export const RobotMessage = Schema.Struct({
  msgId: Schema.NonEmptyString,
  msgtype: Schema.NonEmptyString,
  conversationId: Schema.NonEmptyString,
  conversationType: Schema.Literals(["1", "2"]),
  conversationTitle: Schema.optional(Schema.String),
  senderId: Schema.NonEmptyString,
  senderNick: Schema.optional(Schema.String),
  senderStaffId: Schema.optional(Schema.String),
  robotCode: Schema.optional(Schema.String),
  chatbotUserId: Schema.optional(Schema.String),
  sessionWebhook: Schema.NonEmptyString,
  sessionWebhookExpiredTime: Schema.optional(Schema.Number),
  createAt: Schema.optional(Schema.Number),
  isInAtList: Schema.optional(Schema.Boolean),
  atUsers: Schema.optional(Schema.Array(AtUser)),
  text: Schema.optional(TextContent),
  content: Schema.optional(Schema.Unknown),
})

/** A decoded robot message. */
export type RobotMessage = typeof RobotMessage.Type

/** Decodes the `data` string of a CALLBACK frame. */
export const RobotMessageFromJson = Schema.fromJsonString(RobotMessage)

const RichTextContent = Schema.Struct({ richText: Schema.Array(RichTextItem) })

/** Message kinds the bridge forwards to OpenCode. */
export const supportedTypes = ["text", "richText", "picture", "file", "video", "audio"] as const

/** What a message asks of the bridge: text to forward, a type it cannot handle, or a message missing what its type needs. */
export type MessageBody =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Unsupported"; readonly msgtype: string }
  | { readonly _tag: "Malformed"; readonly msgtype: string; readonly reason: string }

/** The text a person typed (or said), by `msgtype`; media-only messages have empty text and `mediaOf` attachments. */
export const bodyOf = (message: RobotMessage): MessageBody => {
  switch (message.msgtype) {
    case "text":
      return message.text === undefined ? unsupported(message) : text(stripMention(message, message.text.content))
    case "richText": {
      const rich = Schema.decodeUnknownOption(RichTextContent)(message.content)
      if (rich._tag === "None") return unsupported(message)
      const joined = rich.value.richText.map((item) => item.text ?? "").join("")
      const pictures = rich.value.richText.filter((item) => item.type === "picture")
      if (pictures.length > 0 && mediaOf(message).length < pictures.length) return malformed(message, "a picture in it came without a download code")
      return text(stripMention(message, joined))
    }
    case "audio": {
      const recognition = stringField(message.content, "recognition")?.trim()
      if (recognition !== undefined && recognition !== "") return text(recognition)
      return mediaOf(message).length > 0 ? text("") : malformed(message, "it has neither DingTalk's transcription nor a download code")
    }
    case "picture":
    case "image":
    case "file":
    case "video":
      return mediaOf(message).length > 0 ? text("") : malformed(message, "it came without a download code")
    default:
      return unsupported(message)
  }
}

const text = (value: string): MessageBody => ({ _tag: "Text", text: value })
const unsupported = (message: RobotMessage): MessageBody => ({ _tag: "Unsupported", msgtype: message.msgtype })
const malformed = (message: RobotMessage, reason: string): MessageBody => ({ _tag: "Malformed", msgtype: message.msgtype, reason })

const stringField = (value: unknown, key: string): string | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const field = (value as Record<string, unknown>)[key]
  return typeof field === "string" ? field : undefined
}

/** A file a message carries, fetched through the robot download API with its `downloadCode`. */
export interface MediaRef {
  readonly kind: "picture" | "file" | "video" | "audio"
  readonly downloadCode: string
  /** The sender's file name (files, sometimes videos). */
  readonly fileName?: string
  /** A picture of the quoted message (fetched on a best-effort basis: its code may have expired). */
  readonly quoted?: true
}

const codeOf = (content: unknown): string | undefined => {
  const code = stringField(content, "downloadCode") ?? stringField(content, "pictureDownloadCode")
  return code === undefined || code.trim() === "" ? undefined : code
}

/** The attachments of a message, in order (pictures of a rich text message, or the one file). */
export const mediaOf = (message: RobotMessage): ReadonlyArray<MediaRef> => {
  const one = (kind: MediaRef["kind"]): ReadonlyArray<MediaRef> => {
    const downloadCode = codeOf(message.content)
    if (downloadCode === undefined) return []
    const fileName = stringField(message.content, "fileName")
    return [{ kind, downloadCode, ...(fileName === undefined || fileName === "" ? {} : { fileName }) }]
  }
  switch (message.msgtype) {
    case "picture":
    case "image":
      return one("picture")
    case "file":
      return one("file")
    case "video":
      return one("video")
    case "audio": {
      const recognition = stringField(message.content, "recognition")?.trim()
      return recognition !== undefined && recognition !== "" ? [] : one("audio")
    }
    case "richText": {
      const rich = Schema.decodeUnknownOption(Schema.Struct({ richText: Schema.Array(Schema.Unknown) }))(message.content)
      if (rich._tag === "None") return []
      return rich.value.richText.flatMap((item) => {
        if (stringField(item, "type") !== "picture") return []
        const downloadCode = codeOf(item)
        return downloadCode === undefined ? [] : [{ kind: "picture" as const, downloadCode }]
      })
    }
    default:
      return []
  }
}

/** The message a reply quotes: its type and its text (or a note of what it was). */
export interface QuotedMessage {
  readonly msgtype: string
  readonly text: string
}

/** Quotes longer than this are cut (a quoted essay should not crowd out the question). */
const MAX_QUOTE_CHARS = 4_000

/** The quoted message of a reply (`text.repliedMsg`, or `content.repliedMsg` in rich text), if any. */
export const quoteOf = (message: RobotMessage): QuotedMessage | undefined => {
  const holder: unknown = message.msgtype === "text" ? message.text : message.content
  if (typeof holder !== "object" || holder === null) return undefined
  const { isReplyMsg, repliedMsg } = holder as { isReplyMsg?: unknown; repliedMsg?: unknown }
  if (isReplyMsg !== true || typeof repliedMsg !== "object" || repliedMsg === null) return undefined
  const replied = repliedMsg as Record<string, unknown>
  const msgtype = stringField(replied, "msgType") ?? stringField(replied, "msgtype") ?? "unknown"
  const content = replied["content"]
  const described = quotedText(msgtype, content)
  const cut = described.length > MAX_QUOTE_CHARS ? `${described.slice(0, MAX_QUOTE_CHARS)}…` : described
  return { msgtype, text: cut }
}

const quotedText = (msgtype: string, content: unknown): string => {
  const plain = stringField(content, "text") ?? (typeof content === "string" ? content : undefined)
  if (plain !== undefined && plain.trim() !== "") return plain.trim()
  const rich = typeof content === "object" && content !== null ? (content as { richText?: unknown }).richText : undefined
  if (Array.isArray(rich)) {
    const joined = rich.map((item) => stringField(item, "text") ?? (stringField(item, "type") === "picture" ? "[picture]" : "")).join("").trim()
    if (joined !== "") return joined
  }
  const fileName = stringField(content, "fileName")
  if (fileName !== undefined) return `[a file: ${fileName}]`
  const summary = stringField(content, "summary")
  if (summary !== undefined) return `[${stringField(content, "title") ?? "a chat record"}] ${summary}`
  return `[a ${msgtype} message]`
}

/** In groups DingTalk usually removes the robot's @mention but may leave it (or a space) in front. */
const stripMention = (message: RobotMessage, raw: string): string => {
  const trimmed = raw.trim()
  if (message.conversationType !== "2" || !trimmed.startsWith("@")) return trimmed
  const mentionsRobot = message.atUsers?.some((user) => user.dingtalkId !== undefined && user.dingtalkId === message.chatbotUserId) ?? false
  return mentionsRobot ? trimmed.replace(/^@\S+\s*/, "").trim() : trimmed
}

/** A robot message in the form the pipeline uses. */
export interface InboundMessage {
  readonly robotCode: string
  readonly msgId: string
  readonly conversationId: string
  readonly conversationType: "single" | "group"
  readonly conversationTitle: string | undefined
  readonly senderId: string
  /** Stable user key: the staff ID when the sender is in the organisation, else the sender ID. */
  readonly senderKey: string
  readonly senderStaffId: string | undefined
  readonly senderNick: string
  readonly body: MessageBody
  /** Files to fetch (pictures, files, videos, voice without a transcription); absent when none. */
  readonly attachments?: ReadonlyArray<MediaRef>
  /** The message this one replies to; absent when it is not a reply. */
  readonly quote?: QuotedMessage
  /** The text is DingTalk's transcription of a voice message. */
  readonly transcribed?: boolean
  readonly webhook: string
  /** Epoch ms after which `webhook` no longer works (DingTalk answers 300001). */
  readonly webhookExpiresAt: number
  readonly receivedAt: number
}

/** Webhooks without an expiry are assumed to last this long (DingTalk's is about 90 minutes). */
const DEFAULT_WEBHOOK_LIFETIME_MS = 60 * 60_000

/** Normalises a decoded robot message; `robotCode` falls back to the configured one. */
export const toInbound = (message: RobotMessage, fallbackRobotCode: string, now: number): InboundMessage => withMedia(message, {
  robotCode: message.robotCode !== undefined && message.robotCode !== "" ? message.robotCode : fallbackRobotCode,
  msgId: message.msgId,
  conversationId: message.conversationId,
  conversationType: message.conversationType === "2" ? "group" : "single",
  conversationTitle: message.conversationTitle,
  senderId: message.senderId,
  senderKey: message.senderStaffId !== undefined && message.senderStaffId !== "" ? message.senderStaffId : message.senderId,
  senderStaffId: message.senderStaffId !== undefined && message.senderStaffId !== "" ? message.senderStaffId : undefined,
  senderNick: message.senderNick ?? "",
  body: bodyOf(message),
  webhook: message.sessionWebhook,
  webhookExpiresAt: message.sessionWebhookExpiredTime ?? now + DEFAULT_WEBHOOK_LIFETIME_MS,
  receivedAt: now,
})

/** The picture of a quoted picture message, when DingTalk gives its download code. */
export const quotedMediaOf = (message: RobotMessage): ReadonlyArray<MediaRef> => {
  const holder: unknown = message.msgtype === "text" ? message.text : message.content
  const replied = typeof holder === "object" && holder !== null && (holder as { isReplyMsg?: unknown }).isReplyMsg === true
    ? (holder as { repliedMsg?: unknown }).repliedMsg
    : undefined
  const msgtype = stringField(replied, "msgType") ?? stringField(replied, "msgtype")
  if (msgtype !== "picture" && msgtype !== "image") return []
  const downloadCode = codeOf(typeof replied === "object" && replied !== null ? (replied as { content?: unknown }).content : undefined)
  return downloadCode === undefined ? [] : [{ kind: "picture", downloadCode, quoted: true }]
}

/** Adds attachments, the quote and the voice flag, only when present. */
const withMedia = (message: RobotMessage, inbound: InboundMessage): InboundMessage => {
  const attachments = [...quotedMediaOf(message), ...mediaOf(message)]
  const quote = quoteOf(message)
  const transcribed = message.msgtype === "audio" && mediaOf(message).length === 0 && inbound.body._tag === "Text"
  return {
    ...inbound,
    ...(attachments.length > 0 ? { attachments } : {}),
    ...(quote === undefined ? {} : { quote }),
    ...(transcribed ? { transcribed } : {}),
  }
}

/** A short human label for the conversation (group title, else the sender), used in OpenCode session titles. */
export const conversationLabel = (message: InboundMessage): string =>
  message.conversationTitle ?? (message.senderNick !== "" ? message.senderNick : message.conversationType === "group" ? "group" : "chat")
