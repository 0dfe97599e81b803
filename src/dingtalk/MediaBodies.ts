/**
 * Bodies of picture and file messages: a webhook markdown image (`![name](mediaId)`, the form
 * session webhooks take) and the robot OpenAPI's `sampleImageMsg {photoURL}` / `sampleFile
 * {mediaId, fileName, fileType}`, whose `photoURL` accepts a media ID.
 */
import path from "node:path"
import type { OpenApiTarget } from "./ReplyBodies.js"

/** An uploaded picture or file to send to a conversation. */
export interface MediaSendRequest {
  readonly conversationId: string
  readonly kind: "image" | "file"
  /** From `MediaUpload.upload`. */
  readonly mediaId: string
  /** Shown to the user; sanitised. */
  readonly fileName: string
}

/** Markdown alt text must not close the image early. */
const altText = (fileName: string) => fileName.replace(/[[\]()\n\r]/g, " ").trim() || "image"

/** A picture on the `sessionWebhook` (files have no webhook form). */
export const mediaWebhookBody = (request: MediaSendRequest): object => ({
  msgtype: "markdown",
  markdown: { title: altText(request.fileName), text: `![${altText(request.fileName)}](${request.mediaId})` },
})

/** A picture or file through the robot OpenAPI; `msgParam` is itself a JSON string. */
export const mediaOpenApiBody = (robotCode: string, target: OpenApiTarget, request: MediaSendRequest): object => ({
  robotCode,
  ...(target._tag === "User" ? { userIds: [target.userId] } : { openConversationId: target.openConversationId }),
  msgKey: request.kind === "image" ? "sampleImageMsg" : "sampleFile",
  msgParam: JSON.stringify(
    request.kind === "image"
      ? { photoURL: request.mediaId }
      : { mediaId: request.mediaId, fileName: request.fileName, fileType: path.extname(request.fileName).slice(1).toLowerCase() || "file" }
  ),
})
