/**
 * Interactive cards with buttons (`DINGTALK_ACTION_CARD_TEMPLATE_ID`): create-and-deliver a card whose
 * variables are given, update variables by key, and read the clicks DingTalk pushes on the card
 * callback topic. Calls share the card budget (`CardLimiter`) with the AI cards.
 */
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { BridgeConfig, robotCodeOf } from "../core/BridgeConfig.js"
import { AccessToken } from "./AccessToken.js"
import { CardLimiter } from "./CardLimiter.js"
import { type CardTarget, openSpaceOf } from "./Cards.js"
import { DingTalkHttp } from "./DingTalkHttp.js"

/** DingTalk refused or could not take an interactive card call. */
export class ActionCardFailed extends Schema.TaggedError<ActionCardFailed>()("ActionCardFailed", {
  api: Schema.String,
  status: Schema.Number,
  detail: Schema.String,
}) {
  override get message() {
    return `DingTalk interactive card call ${this.api} failed (HTTP ${this.status}): ${this.detail}`
  }
}

/** A button click: which card, who, which button, and the button's params. */
export interface CardClick {
  readonly outTrackId: string
  readonly userId: string
  readonly actionId: string | undefined
  readonly params: Readonly<Record<string, string>>
}

const PrivateData = Schema.Struct({
  cardPrivateData: Schema.optional(Schema.Struct({
    actionIds: Schema.optional(Schema.Array(Schema.String)),
    params: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)),
  })),
})
const CallbackPayload = Schema.Struct({
  outTrackId: Schema.String,
  userId: Schema.String,
  content: Schema.optional(Schema.String),
  value: Schema.optional(Schema.String),
})
const decodePayload = Schema.decodeUnknownOption(Schema.fromJsonString(CallbackPayload))
const decodePrivate = Schema.decodeUnknownOption(Schema.fromJsonString(PrivateData))

/** Reads a card callback frame's `data` (its `value`/`content` are JSON strings holding `cardPrivateData`). */
export const decodeCardClick = (data: unknown): CardClick | undefined => {
  const payload = decodePayload(data)
  if (Option.isNone(payload)) return undefined
  const inner = [payload.value.value, payload.value.content]
    .map((text) => (text === undefined ? Option.none() : decodePrivate(text)))
    .find(Option.isSome)
  const privateData = inner === undefined ? undefined : Option.getOrUndefined(inner)?.cardPrivateData
  const params: Record<string, string> = {}
  for (const [key, value] of Object.entries(privateData?.params ?? {})) if (typeof value === "string") params[key] = value
  return { outTrackId: payload.value.outTrackId, userId: payload.value.userId, actionId: privateData?.actionIds?.[0] ?? params.action, params }
}

/** The interactive card API. */
export class ActionCards extends Context.Service<ActionCards, {
  /** The configured template, if any: without one, requests are answered by typed commands only. */
  readonly templateId: string | undefined
  /** Creates the card with `variables` (all strings) and delivers it to the target. */
  readonly send: (target: CardTarget, outTrackId: string, variables: Readonly<Record<string, string>>) => Effect.Effect<void, ActionCardFailed>
  /** Updates the given variables of a card, leaving the others. */
  readonly update: (outTrackId: string, variables: Readonly<Record<string, string>>) => Effect.Effect<void, ActionCardFailed>
}>()("dingtalk-mcp-server/ActionCards") {
  /** Cards through the shared HTTP pool, token and card budget. */
  static readonly layer = Layer.effect(
    ActionCards,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const http = yield* DingTalkHttp
      const tokens = yield* AccessToken
      const limiter = yield* CardLimiter
      const templateId = Option.getOrUndefined(settings.interactive.actionCardTemplateId)
      const robotCode = robotCodeOf(settings)

      const call = (api: "create" | "instances", method: "POST" | "PUT", path: string, body: object) =>
        limiter.limit(api, Effect.gen(function*() {
          const token = yield* tokens.get.pipe(Effect.mapError((error) => new ActionCardFailed({ api: path, status: 0, detail: error.message })))
          const answer = yield* http.postJson(`${settings.dingtalk.apiUrl}${path}`, body, {
            method,
            headers: { "x-acs-dingtalk-access-token": Redacted.value(token) },
          }).pipe(Effect.mapError((error) => new ActionCardFailed({ api: path, status: 0, detail: error.message })))
          if (answer.status === 401) yield* tokens.invalidate
          const reply = (answer.body ?? {}) as { success?: unknown; message?: unknown; result?: { deliverResults?: ReadonlyArray<{ success?: unknown; errorMsg?: unknown }> } }
          const undelivered = reply.result?.deliverResults?.find((result) => result.success === false)
          if (answer.status !== 200 || reply.success === false || undelivered !== undefined) {
            return yield* new ActionCardFailed({ api: path, status: answer.status, detail: String(undelivered?.errorMsg ?? reply.message ?? "not delivered").slice(0, 300) })
          }
        }))

      const send = Effect.fn("ActionCards.send")(function*(target: CardTarget, outTrackId: string, variables: Readonly<Record<string, string>>) {
        const openSpaceId = openSpaceOf(target)
        if (templateId === undefined || openSpaceId === undefined) {
          return yield* new ActionCardFailed({ api: "createAndDeliver", status: 0, detail: templateId === undefined ? "no template configured" : "a 1:1 chat without a staff ID cannot get cards" })
        }
        yield* call("create", "POST", "/v1.0/card/instances/createAndDeliver", {
          cardTemplateId: templateId,
          outTrackId,
          cardData: { cardParamMap: variables },
          // STREAM: clicks come back over the Stream connection (topic /v1.0/card/instances/callback).
          callbackType: "STREAM",
          imGroupOpenSpaceModel: { supportForward: false },
          imRobotOpenSpaceModel: { supportForward: false },
          userIdType: 1,
          openSpaceId,
          ...(target.conversationType === "group"
            ? { imGroupOpenDeliverModel: { robotCode } }
            : { imRobotOpenDeliverModel: { spaceType: "IM_ROBOT", robotCode } }),
        })
      })

      const update = Effect.fn("ActionCards.update")(function*(outTrackId: string, variables: Readonly<Record<string, string>>) {
        yield* call("instances", "PUT", "/v1.0/card/instances", {
          outTrackId,
          cardData: { cardParamMap: variables },
          cardUpdateOptions: { updateCardDataByKey: true },
        })
      })

      return ActionCards.of({ templateId, send, update })
    })
  )
}
