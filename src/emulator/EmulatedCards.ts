/**
 * The AI-card endpoints of the DingTalk emulator: create-and-deliver, streaming updates and instance
 * updates, validated as dingtalk-cards.md §8 lists, every call recorded with its time, and failures
 * that can be injected (403 without permission, 403 QpsLimit, 429, 500).
 */

/** Which card API a call went to. */
export type CardCallKind = "create" | "streaming" | "instances"

/** One card call as received, accepted or not. */
export interface RecordedCardCall {
  readonly kind: CardCallKind
  readonly outTrackId: string
  /** `performance.now()` when it arrived. */
  readonly at: number
  /** The HTTP status answered. */
  readonly status: number
  /** The streamed text (streaming), or the streaming variable written (create, instances). */
  readonly content: string | undefined
  readonly isFinalize: boolean
  readonly body: any
}

/** A card as the emulator keeps it. */
export interface EmulatedCard {
  readonly outTrackId: string
  readonly conversationId: string
  readonly openSpaceId: string
  readonly templateId: string
  /** `performance.now()` of its creation. */
  readonly createdAt: number
  /** Its variables (`cardParamMap`), all strings. */
  readonly variables: Record<string, string>
  /** The key streamed into (from the first streaming call), else undefined. */
  streamingKey: string | undefined
  /** The streaming variable's text, as a client would show it now. */
  text: string
  flowStatus: string | undefined
  /** A streaming call with `isFinalize: true` was accepted. */
  finalized: boolean
  /** Accepted calls to this card, in order (create first). */
  readonly calls: Array<RecordedCardCall>
}

/** A failure to inject: the next `times` calls of `kind` answer `status` with `code`. */
export interface CardFailure {
  readonly kind: CardCallKind | "any"
  readonly status: number
  /** Default: `Forbidden.AccessDenied.AccessTokenPermissionDenied` for 403, `QpsLimit` for 429, `unknownError` for 5xx. */
  readonly code?: string
  /** Default 1. */
  readonly times?: number
}

const defaultCode = (status: number) =>
  status === 403 ? "Forbidden.AccessDenied.AccessTokenPermissionDenied" : status === 429 ? "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi" : status >= 500 ? "unknownError" : "invalidParameter"

/** The card API state and its HTTP handler. */
export const makeEmulatedCards = (options: {
  readonly robotCode: string
  readonly isValidToken: (token: unknown) => boolean
  /** The conversation an open space ID names, or undefined when the emulator never saw it. */
  readonly conversationOf: (openSpaceId: string) => string | undefined
  readonly changed: () => void
}) => {
  const cards = new Map<string, EmulatedCard>()
  const calls: Array<RecordedCardCall> = []
  const failures: Array<{ kind: CardCallKind | "any"; status: number; code: string; left: number }> = []

  const kindOf = (method: string, path: string): CardCallKind | undefined =>
    method === "POST" && path === "/v1.0/card/instances/createAndDeliver"
      ? "create"
      : method === "PUT" && path === "/v1.0/card/streaming"
      ? "streaming"
      : method === "PUT" && path === "/v1.0/card/instances"
      ? "instances"
      : undefined

  /** Handles a card call; false when the path is not a card API. */
  const handle = (
    method: string,
    path: string,
    token: unknown,
    body: any,
    respond: (status: number, answer: unknown) => void
  ): boolean => {
    const kind = kindOf(method, path)
    if (kind === undefined) return false
    const outTrackId = String(body?.outTrackId ?? "")
    const record = (status: number, content: string | undefined) => {
      const call: RecordedCardCall = { kind, outTrackId, at: performance.now(), status, content, isFinalize: body?.isFinalize === true, body }
      calls.push(call)
      if (status === 200) cards.get(outTrackId)?.calls.push(call)
      options.changed()
    }
    const refuse = (status: number, code: string, message: string) => {
      record(status, undefined)
      respond(status, { code, message, requestid: "emulated" })
      return true
    }
    if (!options.isValidToken(token)) return refuse(401, "InvalidAuthentication", "access token is invalid")
    const failure = failures.find((f) => f.left > 0 && (f.kind === "any" || f.kind === kind))
    if (failure !== undefined) {
      failure.left--
      return refuse(failure.status, failure.code, "injected failure")
    }
    if (typeof body !== "object" || body === null) return refuse(400, "invalidParameter", "body is not JSON")

    if (kind === "create") {
      const params = body.cardData?.cardParamMap
      if (typeof body.cardTemplateId !== "string" || body.cardTemplateId === "") return refuse(400, "invalidParameter.cardTemplateId", "cardTemplateId is required")
      if (outTrackId === "" || cards.has(outTrackId)) return refuse(400, "invalidParameter.outTrackId", `outTrackId "${outTrackId}" is missing or already used`)
      if (body.callbackType !== "STREAM" && body.callbackType !== "HTTP") return refuse(400, "invalidParameter.callbackType", "callbackType must be STREAM or HTTP")
      if (typeof params !== "object" || params === null || Object.values(params).some((v) => typeof v !== "string")) {
        return refuse(400, "invalidParameter.cardParamMap", "every cardParamMap value must be a string")
      }
      const openSpaceId = String(body.openSpaceId ?? "")
      const conversationId = options.conversationOf(openSpaceId)
      if (conversationId === undefined) return refuse(400, "invalidParameter.openSpaceId", `unknown open space "${openSpaceId}"`)
      const group = openSpaceId.startsWith("dtv1.card//IM_GROUP.")
      const deliver = group ? body.imGroupOpenDeliverModel : body.imRobotOpenDeliverModel
      if (typeof deliver !== "object" || deliver === null) {
        return refuse(400, "invalidParameter.deliverModel", `${group ? "imGroupOpenDeliverModel" : "imRobotOpenDeliverModel"} is required for ${openSpaceId}`)
      }
      if (!group && deliver.spaceType !== "IM_ROBOT") return refuse(400, "invalidParameter.spaceType", "imRobotOpenDeliverModel.spaceType must be IM_ROBOT")
      if (deliver.robotCode !== undefined && deliver.robotCode !== options.robotCode) return refuse(400, "invalidParameter.robotCode", `unknown robotCode ${deliver.robotCode}`)
      const card: EmulatedCard = {
        outTrackId,
        conversationId,
        openSpaceId,
        templateId: body.cardTemplateId,
        createdAt: performance.now(),
        variables: { ...params },
        streamingKey: undefined,
        text: "",
        flowStatus: params.flowStatus,
        finalized: false,
        calls: [],
      }
      cards.set(outTrackId, card)
      record(200, params.msgContent ?? params.content)
      respond(200, { success: true, result: { outTrackId, processQueryKey: `pqk-${outTrackId}`, deliverResults: [{ success: true, carrierId: `carrier-${outTrackId}` }] } })
      return true
    }

    const card = cards.get(outTrackId)
    if (card === undefined) return refuse(404, "card.notFound", `unknown outTrackId "${outTrackId}"`)
    if (kind === "streaming") {
      if (card.finalized) return refuse(400, "card.finalized", "the card's streaming was finalized")
      if (typeof body.key !== "string" || typeof body.content !== "string" || typeof body.guid !== "string") {
        return refuse(400, "invalidParameter", "key, content and guid are required strings")
      }
      card.streamingKey = body.key
      const before = body.isFull === false ? (card.variables[body.key] ?? "") : ""
      card.variables[body.key] = before + body.content
      card.text = card.variables[body.key]!
      if (body.isFinalize === true) card.finalized = true
      record(200, body.content)
      respond(200, { success: true, result: true })
      return true
    }
    const params = body.cardData?.cardParamMap
    if (typeof params !== "object" || params === null || Object.values(params).some((v) => typeof v !== "string")) {
      return refuse(400, "invalidParameter.cardParamMap", "every cardParamMap value must be a string")
    }
    if (body.cardUpdateOptions?.updateCardDataByKey === true) Object.assign(card.variables, params)
    else {
      for (const key of Object.keys(card.variables)) delete card.variables[key]
      Object.assign(card.variables, params)
    }
    card.flowStatus = card.variables.flowStatus
    const key = card.streamingKey ?? (card.variables.msgContent !== undefined ? "msgContent" : "content")
    card.text = card.variables[key] ?? card.text
    record(200, params[key])
    respond(200, { success: true, result: true })
    return true
  }

  return {
    handle,
    cards: () => [...cards.values()],
    calls: () => calls,
    get: (outTrackId: string) => cards.get(outTrackId),
    fail: (failure: CardFailure) => {
      failures.push({ kind: failure.kind, status: failure.status, code: failure.code ?? defaultCode(failure.status), left: failure.times ?? 1 })
    },
  }
}
