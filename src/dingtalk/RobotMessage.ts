/**
 * The robot message DingTalk pushes on `/v1.0/im/bot/messages/get`, as a Schema, and its
 * normalised form the pipeline works with. Defined once; everything else imports from here.
 */
import { Schema } from "effect"

const TextContent = Schema.Struct({ content: Schema.String })

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
const AudioContent = Schema.Struct({ recognition: Schema.String })

/** Message kinds the bridge forwards to OpenCode as text. */
export const supportedTypes = ["text", "richText", "audio"] as const

/** What a message asks of the bridge: text to forward, or a type it cannot handle yet. */
export type MessageBody =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Unsupported"; readonly msgtype: string }

/** The text a person typed (or said), by `msgtype`; anything else is `Unsupported`. */
export const bodyOf = (message: RobotMessage): MessageBody => {
  switch (message.msgtype) {
    case "text":
      return message.text === undefined ? unsupported(message) : text(stripMention(message, message.text.content))
    case "richText": {
      const rich = Schema.decodeUnknownOption(RichTextContent)(message.content)
      if (rich._tag === "None") return unsupported(message)
      const joined = rich.value.richText.map((item) => item.text ?? (item.type === "picture" ? "[picture]" : "")).join("")
      return text(stripMention(message, joined))
    }
    case "audio": {
      const audio = Schema.decodeUnknownOption(AudioContent)(message.content)
      return audio._tag === "None" ? unsupported(message) : text(audio.value.recognition.trim())
    }
    default:
      return unsupported(message)
  }
}

const text = (value: string): MessageBody => ({ _tag: "Text", text: value })
const unsupported = (message: RobotMessage): MessageBody => ({ _tag: "Unsupported", msgtype: message.msgtype })

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
  readonly webhook: string
  /** Epoch ms after which `webhook` no longer works (DingTalk answers 300001). */
  readonly webhookExpiresAt: number
  readonly receivedAt: number
}

/** Webhooks without an expiry are assumed to last this long (DingTalk's is about 90 minutes). */
const DEFAULT_WEBHOOK_LIFETIME_MS = 60 * 60_000

/** Normalises a decoded robot message; `robotCode` falls back to the configured one. */
export const toInbound = (message: RobotMessage, fallbackRobotCode: string, now: number): InboundMessage => ({
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

/** A short human label for the conversation (group title, else the sender), used in OpenCode session titles. */
export const conversationLabel = (message: InboundMessage): string =>
  message.conversationTitle ?? (message.senderNick !== "" ? message.senderNick : message.conversationType === "group" ? "group" : "chat")
