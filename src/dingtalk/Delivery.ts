/**
 * The one way replies reach DingTalk, used by the pipeline and by `dingtalk_send_message`:
 * split to DingTalk's byte limit (code fences kept intact), rate-limited per robot in a sliding window
 * (delay, never drop; see SendLimiter), through the conversation's `sessionWebhook` or — once it has
 * expired — the robot OpenAPI.
 * Parts of one reply go out in order; a throttled part is retried, never lost or duplicated.
 */
import { Clock, Context, Data, Duration, Effect, Fiber, FiberSet, Layer, Option, Redacted, Result, Schedule, Schema, Semaphore } from "effect"
import { renderPart, splitMessage } from "./Chunk.js"
import {
  bodyBytes, ErrCode, openApiBody, openApiPath, type OpenApiTarget, type ReplyFormat, type ReplyRoute, titleFrom, webhookBody,
} from "./ReplyBodies.js"
import { AccessToken, retryWithFreshToken, TokenRejected } from "./AccessToken.js"
import { BridgeConfig, robotCodeOf } from "../core/BridgeConfig.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { type Conversation, Conversations } from "./Conversations.js"
import { DingTalkHttp } from "./DingTalkHttp.js"
import { mediaOpenApiBody, type MediaSendRequest, mediaWebhookBody } from "./MediaBodies.js"
import { checkWebhook, describeUrl } from "./OutboundPolicy.js"
import type { InboundMessage } from "./RobotMessage.js"
import { SendLimiter } from "./SendLimiter.js"

/** What to send where. */
export interface SendRequest {
  readonly conversationId: string
  readonly text: string
  /** Default `markdown`. */
  readonly format?: ReplyFormat | undefined
  /** Notification title; default: the first line of the text. */
  readonly title?: string | undefined
  /**
   * Runs just before each part's request leaves (after the rate limiter), with the part's number: where a
   * durable inbox records that the answer went out, so a crash cannot make it send the answer again.
   */
  readonly onPartSending?: ((part: number) => Effect.Effect<void>) | undefined
}

/** How a reply went out. */
export interface DeliveryReceipt {
  readonly conversationId: string
  /** Every route used, in order (a webhook that expires mid-reply adds `openapi`). */
  readonly routes: ReadonlyArray<ReplyRoute>
  readonly parts: number
}

/** The bridge has never seen this conversation, so it has nowhere to send. */
export class UnknownConversation extends Schema.TaggedError<UnknownConversation>()("UnknownConversation", {
  conversationId: Schema.String,
}) {
  override get message() {
    return `Unknown conversation "${this.conversationId}". The robot can only write to conversations it has received a message from: ` +
      "send the robot a message in DingTalk first, then use dingtalk_list_conversations to get the ID."
  }
}

/** DingTalk refused a part for a reason retrying cannot fix. */
export class DeliveryFailed extends Schema.TaggedError<DeliveryFailed>()("DeliveryFailed", {
  conversationId: Schema.String,
  route: Schema.String,
  detail: Schema.String,
  partsSent: Schema.Number,
}) {
  override get message() {
    return `Could not deliver to ${this.conversationId} via ${this.route} after ${this.partsSent} part(s): ${this.detail}`
  }
}

/** Everything that can go wrong sending. */
export type DeliveryError = UnknownConversation | DeliveryFailed

/** A webhook is not used this close to its expiry: a long body could arrive after it. */
const WEBHOOK_EXPIRY_MARGIN_MS = 10_000
/** The longest a throttled part keeps waiting for DingTalk to let it through. */
const THROTTLE_PATIENCE = Duration.minutes(15)

/** DingTalk asked us to slow down (errcode 130101, HTTP 403/429): retried on the throttle schedule. */
class Throttled extends Data.TaggedError("Throttled")<{ readonly detail: string }> {}
/** The conversation's sessionWebhook expired (errcode 300001): the rest goes through the OpenAPI. */
class WebhookExpired extends Data.TaggedError("WebhookExpired")<{}> {}

/** Sends replies to DingTalk. */
export class Delivery extends Context.Service<Delivery, {
  readonly send: (request: SendRequest) => Effect.Effect<DeliveryReceipt, DeliveryError>
  /** Replies on the webhook of `message` without the conversation being remembered (notices to senders who are not let in). */
  readonly replyTo: (message: InboundMessage, request: Omit<SendRequest, "conversationId">) => Effect.Effect<DeliveryReceipt, DeliveryError>
  /** Sends an uploaded picture or file: a picture on the webhook while it lives, files and late pictures through the robot OpenAPI. */
  readonly sendMedia: (request: MediaSendRequest) => Effect.Effect<DeliveryReceipt, DeliveryError>
}>()("dingtalk-mcp-server/Delivery") {
  /** Delivery over the shared pool; pending replies get a grace period on shutdown. */
  static readonly layer = Layer.effect(
    Delivery,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const http = yield* DingTalkHttp
      const tokens = yield* AccessToken
      const conversations = yield* Conversations
      const metrics = yield* BridgeMetrics
      const limiter = yield* SendLimiter
      const limits = settings.delivery
      const robotCode = robotCodeOf(settings)
      const pending = new Map<number, { readonly conversationId: string; partsLeft: number }>()
      let nextId = 0

      // Replies run in fibers of this layer, so an interrupted caller (shutdown) does not cut a reply in half.
      const deliveries = yield* FiberSet.make<DeliveryReceipt, DeliveryError>()
      yield* Effect.addFinalizer(() => flushOnShutdown)
      const flushOnShutdown = Effect.gen(function*() {
        if (pending.size === 0) return
        yield* Effect.logInfo(`Flushing ${pending.size} pending repl${pending.size === 1 ? "y" : "ies"} (up to ${limits.shutdownGraceMs} ms)`)
        yield* FiberSet.awaitEmpty(deliveries).pipe(Effect.timeoutOption(Duration.millis(limits.shutdownGraceMs)))
        for (const left of pending.values()) {
          yield* Effect.logError("Reply not delivered before shutdown").pipe(Effect.annotateLogs({ conversationId: left.conversationId, partsLeft: left.partsLeft }))
        }
      })

      const locks = new Map<string, Semaphore.Semaphore>()
      const lockFor = (conversationId: string) => {
        let lock = locks.get(conversationId)
        if (lock === undefined) locks.set(conversationId, lock = Semaphore.makeUnsafe(1))
        return lock
      }

      const rateLimited = <A, E>(conversationId: string, effect: Effect.Effect<A, E>) =>
        Effect.gen(function*() {
          const queuedAt = yield* Clock.currentTimeMillis
          const key = limits.rateLimitKey === "robot" ? robotCode : `${robotCode}:${conversationId}`
          return yield* Effect.gen(function*() {
            const waited = (yield* Clock.currentTimeMillis) - queuedAt
            // Below 10 ms it is scheduling noise, not the limiter holding a reply back.
            if (waited >= 10) yield* metrics.increment("rateLimitWaitMs", waited)
            return yield* effect
          }).pipe(limiter.withPermit(key))
        })

      const throttleRetry = Schedule.exponential(Duration.millis(limits.throttleRetryMs), 2).pipe(
        Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.minutes(1)))),
        Schedule.upTo({ duration: THROTTLE_PATIENCE }),
        Schedule.tap(() => metrics.increment("throttleRetries"))
      )

      const failure = (conversation: Conversation, route: ReplyRoute, partsSent: number) => (detail: string) =>
        new DeliveryFailed({ conversationId: conversation.id, route, detail, partsSent })

      /** One part, paced and retried while DingTalk throttles: "sent", or "expired" when the webhook has expired. */
      const sendPart = (conversationId: string, post: Effect.Effect<void, DeliveryFailed | Throttled | WebhookExpired>, fail: (detail: string) => DeliveryFailed) =>
        rateLimited(conversationId, post).pipe(
          Effect.retry({ schedule: throttleRetry, while: (error) => error._tag === "Throttled" }),
          Effect.catchTag("Throttled", (error) => Effect.fail(fail(`DingTalk kept throttling: ${error.detail}`))),
          Effect.as("sent" as const),
          Effect.catchTag("WebhookExpired", () => Effect.succeed("expired" as const))
        )

      const postWebhook = (conversation: Conversation, body: object, fail: (detail: string) => DeliveryFailed) =>
        http.postJson(conversation.webhook, body).pipe(
          Effect.mapError((error) => fail(error.message)),
          Effect.flatMap((answer): Effect.Effect<void, DeliveryFailed | Throttled | WebhookExpired> => {
            const { errcode, errmsg } = (answer.body ?? {}) as { errcode?: unknown; errmsg?: unknown }
            if (answer.status === 200 && (errcode === ErrCode.ok || errcode === undefined)) return Effect.void
            if (errcode === ErrCode.webhookExpired) return Effect.fail(new WebhookExpired())
            if (errcode === ErrCode.throttled) return Effect.fail(new Throttled({ detail: String(errmsg) }))
            return Effect.fail(fail(`webhook answered HTTP ${answer.status}, errcode ${String(errcode)}: ${String(errmsg)}`))
          })
        )

      // A frame or state entry naming another host is never contacted: the reply goes through the OpenAPI instead.
      const webhookAllowed = (conversation: Conversation) => {
        const checked = checkWebhook(conversation.webhook, settings.dingtalk.apiUrl)
        return Result.isSuccess(checked) ? Effect.succeed(true) : Effect.logWarning(
          `Refused to send to the sessionWebhook ${describeUrl(conversation.webhook)}: ${checked.failure}; replying through the robot OpenAPI`
        ).pipe(Effect.as(false))
      }

      const openApiTarget = (conversation: Conversation, fail: (detail: string) => DeliveryFailed): Effect.Effect<OpenApiTarget, DeliveryFailed> =>
        conversation.type === "group"
          ? Effect.succeed<OpenApiTarget>({ _tag: "Group", openConversationId: conversation.id })
          : conversation.lastSenderStaffId !== undefined
          ? Effect.succeed<OpenApiTarget>({ _tag: "User", userId: conversation.lastSenderStaffId })
          : Effect.fail(fail("the webhook expired (or names a host that is not allowed) and the sender has no staff ID, so the OpenAPI cannot reach them"))

      const postOpenApi = (body: object, target: OpenApiTarget, fail: (detail: string) => DeliveryFailed) => {
        const attempt = Effect.gen(function*() {
          const token = yield* tokens.get.pipe(Effect.mapError((error) => fail(error.message)))
          const answer = yield* http.postJson(`${settings.dingtalk.apiUrl}${openApiPath(target)}`, body, {
            headers: { "x-acs-dingtalk-access-token": Redacted.value(token) },
          }).pipe(Effect.mapError((error) => fail(error.message)))
          if (answer.status === 200) return
          const detail = JSON.stringify(answer.body ?? null).slice(0, 300)
          if (answer.status === 401) {
            yield* tokens.invalidate
            return yield* Effect.fail(new TokenRejected({ detail }))
          }
          if (answer.status === 403 || answer.status === 429) return yield* Effect.fail(new Throttled({ detail }))
          return yield* Effect.fail(fail(`OpenAPI answered HTTP ${answer.status}: ${detail}`))
        })
        // A rejected token is refreshed once; after that it is a real failure.
        return retryWithFreshToken(attempt, (error) => fail(`OpenAPI rejected a fresh token: ${error.detail}`))
      }

      /** Byte budget for the text of one part on a route, after the envelope. */
      const budgetFor = (route: ReplyRoute, format: ReplyFormat, title: string) => {
        const envelope = route === "webhook"
          ? bodyBytes(webhookBody(format, title, ""))
          : bodyBytes(openApiBody(robotCode, { _tag: "User", userId: "x".repeat(64) }, format, title, ""))
        const room = limits.maxMessageBytes - envelope
        // msgParam is JSON inside JSON: its text is escaped twice, at most doubling it.
        return route === "webhook" ? room : Math.floor(room / 2)
      }

      const deliverAll = (request: SendRequest, unremembered?: Conversation) =>
        Effect.gen(function*() {
          const startedAt = yield* Clock.currentTimeMillis
          const found = unremembered === undefined ? yield* conversations.get(request.conversationId) : Option.some(unremembered)
          if (Option.isNone(found)) return yield* new UnknownConversation({ conversationId: request.conversationId })
          const conversation = found.value
          const format = request.format ?? "markdown"
          const title = request.title ?? titleFrom(request.text)
          const routes: Array<ReplyRoute> = []
          const id = nextId++
          let route: ReplyRoute = startedAt < conversation.webhookExpiresAt - WEBHOOK_EXPIRY_MARGIN_MS && (yield* webhookAllowed(conversation)) ? "webhook" : "openapi"
          let remaining = request.text
          let sent = 0
          yield* Effect.addFinalizer(() => Effect.sync(() => pending.delete(id)))
          while (remaining !== "") {
            routes.push(route)
            if (route === "openapi") yield* metrics.increment("openApiFallbacks")
            const parts = splitMessage(remaining, budgetFor(route, format, title))
            pending.set(id, { conversationId: conversation.id, partsLeft: parts.length })
            let switched = false
            for (const [index, part] of parts.entries()) {
              const text = renderPart(part, index, parts.length)
              const fail = failure(conversation, route, sent)
              const post = route === "webhook"
                ? postWebhook(conversation, webhookBody(format, title, text), fail)
                : openApiTarget(conversation, fail).pipe(Effect.flatMap((target) => postOpenApi(openApiBody(robotCode, target, format, title, text), target, fail)))
              const recorded = request.onPartSending === undefined ? post : Effect.andThen(request.onPartSending(sent), post)
              const outcome = yield* sendPart(conversation.id, recorded, fail)
              if (outcome === "expired") {
                // The rest (not yet sent) goes through the OpenAPI, re-split for its smaller budget.
                remaining = parts.slice(index).map((p) => p.text).join("")
                route = "openapi"
                switched = true
                yield* Effect.logInfo("sessionWebhook expired; sending through the robot OpenAPI").pipe(Effect.annotateLogs({ conversationId: conversation.id }))
                break
              }
              sent++
              pending.set(id, { conversationId: conversation.id, partsLeft: parts.length - index - 1 })
              yield* metrics.increment("replyParts")
            }
            if (!switched) remaining = ""
          }
          yield* metrics.increment("replies")
          yield* metrics.observe("delivery", (yield* Clock.currentTimeMillis) - startedAt)
          return { conversationId: conversation.id, routes, parts: sent } satisfies DeliveryReceipt
        }).pipe(
          Effect.scoped,
          Effect.tapError(() => metrics.increment("replyFailures")),
          Effect.annotateLogs({ conversationId: request.conversationId })
        )

      const send = Effect.fn("Delivery.send")(function*(request: SendRequest) {
        const fiber = yield* FiberSet.run(deliveries, Semaphore.withPermit(lockFor(request.conversationId), deliverAll(request)))
        return yield* Fiber.join(fiber)
      })

      const replyTo = Effect.fn("Delivery.replyTo")(function*(message: InboundMessage, request: Omit<SendRequest, "conversationId">) {
        const conversation: Conversation = {
          id: message.conversationId, robotCode: message.robotCode, type: message.conversationType, title: message.conversationTitle,
          lastSenderKey: message.senderKey, lastSenderStaffId: message.senderStaffId, lastSenderNick: message.senderNick,
          lastActivity: message.receivedAt, messageCount: 1, webhook: message.webhook, webhookExpiresAt: message.webhookExpiresAt,
        }
        const full = { ...request, conversationId: message.conversationId }
        const fiber = yield* FiberSet.run(deliveries, Semaphore.withPermit(lockFor(message.conversationId), deliverAll(full, conversation)))
        return yield* Fiber.join(fiber)
      })

      const deliverMedia = (request: MediaSendRequest) =>
        Effect.gen(function*() {
          const startedAt = yield* Clock.currentTimeMillis
          const found = yield* conversations.get(request.conversationId)
          if (Option.isNone(found)) return yield* new UnknownConversation({ conversationId: request.conversationId })
          const conversation = found.value
          const attempt = (route: ReplyRoute) => {
            const fail = failure(conversation, route, 0)
            const post = route === "webhook"
              ? postWebhook(conversation, mediaWebhookBody(request), fail)
              : openApiTarget(conversation, fail).pipe(Effect.flatMap((target) => postOpenApi(mediaOpenApiBody(robotCode, target, request), target, fail)))
            return sendPart(conversation.id, post, fail)
          }
          const webhookLive = request.kind === "image" && startedAt < conversation.webhookExpiresAt - WEBHOOK_EXPIRY_MARGIN_MS && (yield* webhookAllowed(conversation))
          if (!webhookLive && conversation.type === "single" && conversation.lastSenderStaffId === undefined) {
            return yield* failure(conversation, "openapi", 0)(
              `${request.kind === "file" ? "files go" : "this picture must go"} through the robot OpenAPI, which needs the user's staff ID, and this 1:1 chat is with someone outside the organisation`
            )
          }
          const routes: Array<ReplyRoute> = [webhookLive ? "webhook" : "openapi"]
          if ((yield* attempt(routes[0]!)) === "expired") {
            routes.push("openapi")
            yield* attempt("openapi")
          }
          if (routes.includes("openapi")) yield* metrics.increment("openApiFallbacks")
          yield* metrics.increment("mediaSent")
          yield* metrics.observe("delivery", (yield* Clock.currentTimeMillis) - startedAt)
          return { conversationId: conversation.id, routes, parts: 1 } satisfies DeliveryReceipt
        }).pipe(
          Effect.tapError(() => metrics.increment("replyFailures")),
          Effect.annotateLogs({ conversationId: request.conversationId })
        )

      const sendMedia = Effect.fn("Delivery.sendMedia")(function*(request: MediaSendRequest) {
        const fiber = yield* FiberSet.run(deliveries, Semaphore.withPermit(lockFor(request.conversationId), deliverMedia(request)))
        return yield* Fiber.join(fiber)
      })

      return Delivery.of({ send, replyTo, sendMedia })
    })
  )
}
