/**
 * Stage 1: a CALLBACK frame's `data` → an `InboundMessage`, or a rejection that says why.
 * Bad input never fails the stream: it becomes a `Rejected` value the bridge counts and logs.
 */
import { Effect, Result, Schema } from "effect"
import { type InboundMessage, RobotMessageFromJson, toInbound } from "../dingtalk/RobotMessage.js"
import type { CallbackFrame } from "../dingtalk/DingTalkStream.js"

/** A frame the bridge will not process, with the reason (and where to tell the sender, if known). */
export interface Rejected {
  readonly frameId: string
  readonly reason: string
}

/** Frames larger than this are rejected before parsing (DingTalk's own text limit is far below). */
export const MAX_FRAME_BYTES = 256 * 1024

const decodeRobotMessage = Schema.decodeUnknownResult(RobotMessageFromJson)

/** Decodes one frame; `robotCode` is the fallback when the payload has none. */
export const decodeFrame = (frame: CallbackFrame, robotCode: string): Effect.Effect<Result.Result<InboundMessage, Rejected>> =>
  Effect.clockWith((clock) =>
    Effect.sync(() => {
      if (typeof frame.data !== "string") return Result.fail({ frameId: frame.frameId, reason: "frame data is not a string" })
      if (frame.data.length > MAX_FRAME_BYTES) {
        return Result.fail({ frameId: frame.frameId, reason: `frame data is ${frame.data.length} bytes, over the ${MAX_FRAME_BYTES} limit` })
      }
      return decodeRobotMessage(frame.data).pipe(
        Result.map((message) => toInbound(message, robotCode, clock.currentTimeMillisUnsafe())),
        Result.mapError((error) => ({ frameId: frame.frameId, reason: firstLine(error.message) }))
      )
    })
  ).pipe(Effect.withSpan("Decode.frame"))

const firstLine = (text: string) => text.split("\n").slice(0, 2).join(" ").slice(0, 200)
