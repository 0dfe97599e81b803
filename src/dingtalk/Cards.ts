/**
 * DingTalk AI cards: create-and-deliver into a conversation, stream the full text so far, finalize.
 * Every call carries the access token, goes to `DINGTALK_API_URL` and shares the card budget. A
 * failure (no card permission, QPS limit, 5xx) pauses cards for `DINGTALK_CARD_PAUSE_MS`, during which
 * answers go out as markdown; `status` says why, for `dingtalk_get_stats`.
 */
import { Clock, Context, Effect, Layer, Redacted, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { BridgeConfig, robotCodeOf } from "../core/BridgeConfig.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { AccessToken } from "./AccessToken.js"
import { type CardApi, CardLimiter } from "./CardLimiter.js"
import { DingTalkHttp } from "./DingTalkHttp.js"

/** Where a card goes: a group, or a 1:1 chat with a sender who has a staff ID. */
export interface CardTarget {
  readonly conversationId: string
  readonly conversationType: "single" | "group"
  readonly senderStaffId: string | undefined
}

/** How a card ends: `3` finished, `5` failed (DingTalk's `flowStatus`). */
export type CardEnding = "done" | "stopped" | "failed"

/** DingTalk refused a card call. `throttled` failures (QPS limit, 429) are worth one more try later. */
export class CardFailed extends Schema.TaggedError<CardFailed>()("CardFailed", {
  api: Schema.String,
  status: Schema.Number,
  code: Schema.String,
  detail: Schema.String,
  throttled: Schema.Boolean,
}) {
  override get message() {
    if (this.status === 403 && !this.throttled) {
      return `DingTalk refused the card call ${this.api} (HTTP 403 ${this.code}): give the app the Card.Instance.Write and Card.Streaming.Write permissions, or set DINGTALK_CARDS=off.`
    }
    return `DingTalk card call ${this.api} failed (HTTP ${this.status} ${this.code}): ${this.detail}`
  }
}

/** Why cards are not used right now, if they are not. */
export interface CardsStatus {
  readonly enabled: boolean
  readonly pausedUntil: number | undefined
  readonly pauseReason: string | undefined
}

/** The open space of a target, or undefined when a card cannot reach it (1:1 with no staff ID). */
export const openSpaceOf = (target: CardTarget): string | undefined =>
  target.conversationType === "group"
    ? `dtv1.card//IM_GROUP.${target.conversationId}`
    : target.senderStaffId === undefined
    ? undefined
    : `dtv1.card//IM_ROBOT.${target.senderStaffId}`

/** The card API. */
export class Cards extends Context.Service<Cards, {
  /** Whether a card may be used for this target now (on, not paused, reachable). */
  readonly usable: (target: CardTarget) => Effect.Effect<boolean>
  /** Creates the card with `content` and delivers it to the target. */
  readonly create: (target: CardTarget, outTrackId: string, content: string) => Effect.Effect<void, CardFailed>
  /** Replaces the card's text with `content`; `finalize` ends its streaming. */
  readonly stream: (outTrackId: string, content: string, finalize: boolean) => Effect.Effect<void, CardFailed>
  /** Sets the card's final variables and status. */
  readonly finish: (outTrackId: string, content: string, ending: CardEnding) => Effect.Effect<void, CardFailed>
  /** Stops using cards for `DINGTALK_CARD_PAUSE_MS` because of `failure`. */
  readonly pause: (failure: CardFailed) => Effect.Effect<void>
  readonly status: Effect.Effect<CardsStatus>
  /** Update interval, streaming key and size limit, from the configuration. */
  readonly updateMs: number
  readonly maxBytes: number
}>()("dingtalk-mcp-server/Cards") {
  /** Cards through the shared HTTP pool, token and card budget. */
  static readonly layer = Layer.effect(
    Cards,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const http = yield* DingTalkHttp
      const tokens = yield* AccessToken
      const limiter = yield* CardLimiter
      const metrics = yield* BridgeMetrics
      const config = settings.cards
      const robotCode = robotCodeOf(settings)
      let pausedUntil: number | undefined
      let pauseReason: string | undefined

      const call = (api: CardApi, method: "POST" | "PUT", path: string, body: object, retries?: number) =>
        limiter.limit(api, Effect.gen(function*() {
          const failed = (status: number, code: string, detail: string) =>
            new CardFailed({ api: path, status, code, detail, throttled: status === 429 || code.includes("QpsLimit") })
          const token = yield* tokens.get.pipe(Effect.mapError((error) => failed(0, "AccessToken", error.message)))
          const answer = yield* http.postJson(`${settings.dingtalk.apiUrl}${path}`, body, {
            method,
            headers: { "x-acs-dingtalk-access-token": Redacted.value(token) },
            ...(retries === undefined ? {} : { retries }),
          }).pipe(Effect.mapError((error) => failed(0, "Unreachable", error.message)))
          const reply = (answer.body ?? {}) as { code?: unknown; message?: unknown; success?: unknown; result?: { deliverResults?: ReadonlyArray<{ success?: unknown; errorMsg?: unknown }> } }
          if (answer.status === 401) yield* tokens.invalidate
          if (answer.status !== 200) {
            return yield* failed(answer.status, String(reply.code ?? "error"), String(reply.message ?? JSON.stringify(answer.body ?? null)).slice(0, 300))
          }
          // A 200 can still fail to deliver.
          const undelivered = reply.result?.deliverResults?.find((result) => result.success === false)
          if (reply.success === false || undelivered !== undefined) {
            return yield* failed(200, "DeliverFailed", String(undelivered?.errorMsg ?? reply.message ?? "not delivered"))
          }
        }))

      const usable = (target: CardTarget) =>
        Effect.gen(function*() {
          if (!config.enabled || openSpaceOf(target) === undefined) return false
          if (pausedUntil === undefined) return true
          if ((yield* Clock.currentTimeMillis) < pausedUntil) return false
          pausedUntil = undefined
          pauseReason = undefined
          return true
        })

      const create = Effect.fn("Cards.create")(function*(target: CardTarget, outTrackId: string, content: string) {
        const openSpaceId = openSpaceOf(target) ?? ""
        const extension = { dynamicSummary: "true" }
        yield* call("create", "POST", "/v1.0/card/instances/createAndDeliver", {
          cardTemplateId: config.templateId,
          outTrackId,
          cardData: {
            cardParamMap: {
              config: JSON.stringify({ autoLayout: true, enableForward: true }),
              [config.contentKey]: content,
              flowStatus: "2",
              ...(config.contentKey === "msgContent" ? { staticMsgContent: "", sys_full_json_obj: JSON.stringify({ order: ["msgContent"] }) } : {}),
            },
          },
          callbackType: "STREAM",
          imGroupOpenSpaceModel: { supportForward: true },
          imRobotOpenSpaceModel: { supportForward: true },
          userIdType: 1,
          openSpaceId,
          ...(target.conversationType === "group"
            ? { imGroupOpenDeliverModel: { robotCode, extension } }
            : { imRobotOpenDeliverModel: { spaceType: "IM_ROBOT", robotCode, extension } }),
        })
        yield* metrics.increment("cardsCreated")
      })

      const stream = Effect.fn("Cards.stream")(function*(outTrackId: string, content: string, finalize: boolean) {
        // No transport retries for updates: the next update carries the full text anyway.
        yield* call("streaming", "PUT", "/v1.0/card/streaming", {
          outTrackId,
          guid: randomUUID(),
          key: config.contentKey,
          content,
          isFull: true,
          isFinalize: finalize,
          isError: false,
        }, finalize ? undefined : 0)
        yield* metrics.increment("cardUpdates")
      })

      const finish = Effect.fn("Cards.finish")(function*(outTrackId: string, content: string, ending: CardEnding) {
        yield* call("instances", "PUT", "/v1.0/card/instances", {
          outTrackId,
          cardData: { cardParamMap: { [config.contentKey]: content, flowStatus: ending === "failed" ? "5" : "3" } },
          cardUpdateOptions: { updateCardDataByKey: true },
        })
      })

      const pause = (failure: CardFailed) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          pausedUntil = now + config.pauseMs
          pauseReason = failure.message
          yield* metrics.increment("cardFallbacks")
          yield* Effect.logWarning(`AI cards paused for ${Math.round(config.pauseMs / 60_000)} min; answers go out as markdown`).pipe(
            Effect.annotateLogs({ reason: failure.message })
          )
        })

      return Cards.of({
        usable,
        create,
        stream,
        finish,
        pause,
        status: Effect.sync(() => ({ enabled: config.enabled, pausedUntil, pauseReason })),
        updateMs: config.updateMs,
        maxBytes: config.maxBytes,
      })
    })
  )
}
