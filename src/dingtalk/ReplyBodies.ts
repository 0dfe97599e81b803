/**
 * Reply bodies for the `sessionWebhook` and the robot OpenAPI, defined once, plus their error codes.
 */

/** How a reply is shown: markdown (answers) or plain text (short notices). */
export type ReplyFormat = "markdown" | "text"

/** Where a reply can go. */
export type ReplyRoute = "webhook" | "openapi"

/** DingTalk's answer codes that change what the sender does. */
export const ErrCode = {
  ok: 0,
  webhookExpired: 300001,
  throttled: 130101,
  tooLong: 460101,
} as const

/** DingTalk shows the title in notifications; keep it short. */
const TITLE_MAX_CHARS = 40

/** A notification title from the first non-empty line, without markdown markers. */
export const titleFrom = (text: string): string => {
  const firstLine = text.split("\n").map((line) => line.replace(/^[#>*\-\s`]+/, "").trim()).find((line) => line !== "") ?? "OpenCode"
  return [...firstLine].slice(0, TITLE_MAX_CHARS).join("")
}

/** The JSON body POSTed to a `sessionWebhook`. */
export const webhookBody = (format: ReplyFormat, title: string, text: string): object =>
  format === "markdown" ? { msgtype: "markdown", markdown: { title, text } } : { msgtype: "text", text: { content: text } }

/** Where an OpenAPI send goes: a user (1:1) or a group. */
export type OpenApiTarget =
  | { readonly _tag: "User"; readonly userId: string }
  | { readonly _tag: "Group"; readonly openConversationId: string }

/** The robot OpenAPI path for a target, under `DINGTALK_API_URL`. */
export const openApiPath = (target: OpenApiTarget): string =>
  target._tag === "User" ? "/v1.0/robot/oToMessages/batchSend" : "/v1.0/robot/groupMessages/send"

/** The JSON body of a robot OpenAPI send; `msgParam` is itself a JSON string. */
export const openApiBody = (robotCode: string, target: OpenApiTarget, format: ReplyFormat, title: string, text: string): object => ({
  robotCode,
  ...(target._tag === "User" ? { userIds: [target.userId] } : { openConversationId: target.openConversationId }),
  msgKey: format === "markdown" ? "sampleMarkdown" : "sampleText",
  msgParam: JSON.stringify(format === "markdown" ? { title, text } : { content: text }),
})

/** UTF-8 size of a JSON body as sent. */
export const bodyBytes = (body: object): number => Buffer.byteLength(JSON.stringify(body))
