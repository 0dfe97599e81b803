/**
 * The agent's permission requests and questions, put in front of the chat and answered from it.
 * OpenCode's `permission.asked` / `question.asked` events are posted to the conversation of their
 * session; typed answers (`/allow`, `/always`, `/deny`, a number or words, `/skip`) and card buttons
 * go straight to OpenCode's reply endpoints — at once, never queued behind the waiting turn. In a group
 * only the sender of the prompt or a `DINGTALK_ADMINS` member may answer. Unanswered requests are
 * rejected after `BRIDGE_PERMISSION_TIMEOUT_MS`, telling the agent and the user why.
 */
import { Clock, Context, Duration, Effect, Exit, Fiber, Layer, Option, Schema, Scope, Stream } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { Messages, messagesFor, type MessagesShape } from "../core/Messages.js"
import { ActionCards, decodeCardClick } from "../dingtalk/ActionCards.js"
import { Conversations } from "../dingtalk/Conversations.js"
import { Delivery } from "../dingtalk/Delivery.js"
import {
  OpenCodeClient, type PermissionReply, PermissionRequest, QuestionRequest, type QuestionItem,
} from "../opencode/OpenCodeClient.js"
import { OpenCodeEvents } from "../opencode/OpenCodeEvents.js"
import { Sessions } from "../opencode/Sessions.js"
import { ConversationOwners } from "./ConversationOwners.js"
import { type AnswerCommand, parseQuestionAnswer } from "./InteractiveCommands.js"

/** Who acts on a request: enough of an inbound message or a card click to check the right to answer. */
export interface Answerer {
  readonly conversationId: string
  /** Staff ID, else the user ID. */
  readonly senderKey: string
  readonly senderId?: string | undefined
  readonly senderNick?: string | undefined
}

/** A request waiting for an answer from chat. */
export interface PendingRequest {
  readonly kind: "permission" | "question"
  readonly id: string
  readonly sessionId: string
  readonly conversationId: string
  /** Shown as `#n`; typed answers name it when several wait. */
  readonly number: number
  /** Who sent the prompt of the turn that asked (may answer in a group). */
  readonly asker: string | undefined
  readonly askedAt: number
  readonly permission: PermissionRequest | undefined
  readonly question: QuestionRequest | undefined
  /** Answers collected so far, one per question (several questions are asked one after another). */
  readonly answers: Array<ReadonlyArray<string>>
  /** Set while our own reply is on its way, so OpenCode's `replied` event is not announced twice. */
  answering: boolean
  /** The interactive card showing it, when cards with buttons are configured and it could be sent. */
  outTrackId: string | undefined
  timer: Fiber.Fiber<void> | undefined
}

/** A card button click, as decoded from the card callback. */
export interface CardAction {
  readonly userId: string
  /** `once`, `always`, `reject`, `skip`, or `answer` with `value` (an option label). */
  readonly action: string
  readonly requestId: string
  readonly sessionId?: string | undefined
  readonly conversationId?: string | undefined
  readonly value?: string | undefined
  /** The card clicked. */
  readonly outTrackId?: string | undefined
}

/** The outcome of a card click, for updating the card. */
export interface CardOutcome {
  readonly status: string
}

/** Why waiting requests are withdrawn (the chat reads it in its language, the agent in English). */
export type WithdrawReason = "stopped" | "turnEnded"
const WITHDRAWN_TO_AGENT: Record<WithdrawReason, string> = {
  stopped: "Withdrawn: the turn was stopped.",
  turnEnded: "Withdrawn: the turn ended before an answer came.",
}

/** Cluster mode: how long a plain message waits for the conversation's owner to say whether it answers a question. */
const ANSWER_HANDOFF_WAIT = Duration.seconds(2)

/** While turns run, OpenCode's pending requests are also read this often: a safety net for lost events. */
const POLL_INTERVAL = Duration.seconds(3)

const minutes = (ms: number, messages: MessagesShape) =>
  ms % 60_000 === 0 ? messages.text("time.minutes", { n: ms / 60_000 }) : messages.text("time.seconds", { n: Math.round(ms / 1000) })
const code = (text: string) => `\`${text.replaceAll("`", "'")}\``

/** What the agent wants to run or touch, from the request's metadata. */
const subjectOf = (request: PermissionRequest): string | undefined => {
  const metadata = request.metadata
  if (typeof metadata !== "object" || metadata === null) return undefined
  const fields = metadata as Record<string, unknown>
  for (const key of ["command", "filePath", "filepath", "path", "url", "pattern"]) {
    if (typeof fields[key] === "string" && fields[key] !== "") return fields[key]
  }
  return undefined
}

/** The chat text of a permission request. */
export const permissionText = (pending: PendingRequest, request: PermissionRequest, timeoutMs: number, messages: MessagesShape): string => {
  const subject = subjectOf(request)
  const n = pending.number
  return [
    messages.text("ask.permissionHeading", { number: n }),
    "",
    subject === undefined
      ? messages.text("ask.permissionWants", { permission: request.permission })
      : messages.text("ask.permissionWantsOn", { permission: request.permission, subject: code(subject) }),
    ...((request.patterns ?? []).length > 0 ? [messages.text("ask.patterns", { patterns: (request.patterns ?? []).map(code).join(", ") })] : []),
    ...((request.always ?? []).length > 0 ? [messages.text("ask.alwaysWould", { patterns: (request.always ?? []).map(code).join(", ") })] : []),
    "",
    messages.text("ask.permissionReply", { number: n, time: minutes(timeoutMs, messages) }),
  ].join("\n")
}

/** The chat text of the question the request is at. */
export const questionText = (pending: PendingRequest, item: QuestionItem, index: number, total: number, timeoutMs: number, messages: MessagesShape): string => {
  const n = pending.number
  const options = item.options ?? []
  const heading = total > 1 ? messages.text("ask.questionHeadingOf", { number: n, index: index + 1, total }) : messages.text("ask.questionHeading", { number: n })
  const reply = item.multiple === true
    ? messages.text(item.custom === false ? "ask.replyManyOnly" : "ask.replyMany", { number: n })
    : messages.text(item.custom === false ? "ask.replyOneOnly" : "ask.replyOne", { number: n })
  return [
    `${heading}${item.header !== undefined && item.header !== "" ? ` — ${item.header}` : ""}`,
    "",
    item.question,
    "",
    ...options.map((option, i) => `${i + 1}. **${option.label}**${option.description !== undefined && option.description !== "" ? ` — ${option.description}` : ""}`),
    ...(options.length > 0 ? [""] : []),
    options.length === 0 ? messages.text("ask.typeAnswer", { number: n }) : reply,
    messages.text("ask.dismissedAfter", { time: minutes(timeoutMs, messages) }),
  ].join("\n")
}

/** Permission requests and questions of the agent, answered from chat. */
export class Interactions extends Context.Service<Interactions, {
  /** Handles an OpenCode event (`permission.*`, `question.*`); other events are ignored. */
  readonly onEvent: (event: { readonly type: string; readonly properties?: unknown }) => Effect.Effect<void>
  /** Posts requests OpenCode has pending that the chat has not seen (after a restart or a lost event stream). */
  readonly resync: Effect.Effect<void>
  /**
   * Wraps a turn: records who sent its prompt (they may answer in a group) and, while any turn runs,
   * checks OpenCode's pending requests every few seconds — a safety net for events that never arrived.
   */
  readonly duringTurn: (conversationId: string, senderKey: string, senderNick?: string) => <A, E, R>(turn: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Acts on `/allow`, `/always`, `/deny`, `/skip` (in the background: it never waits for the turn). */
  readonly answer: (who: Answerer, command: AnswerCommand) => Effect.Effect<void>
  /** A plain message while a question waits is its answer: true when it was taken as one. */
  readonly answerText: (who: Answerer, text: string) => Effect.Effect<boolean>
  /** A card button click; resolves with the card's new status line (the card is updated too). */
  readonly cardAction: (action: CardAction) => Effect.Effect<CardOutcome>
  /** The three above without handing off to the conversation's owner: what the owner runs (cluster mode). */
  readonly here: {
    readonly answer: (who: Answerer, command: AnswerCommand) => Effect.Effect<void>
    readonly answerText: (who: Answerer, text: string) => Effect.Effect<boolean>
    readonly cardAction: (action: CardAction) => Effect.Effect<CardOutcome>
    readonly withdraw: (conversationId: string, reason: WithdrawReason) => Effect.Effect<void>
  }
  /** A frame of the card callback topic (already acked): decoded, then acted on in the background. */
  readonly cardFrame: (data: unknown) => Effect.Effect<void>
  /** Rejects the conversation's waiting requests (OpenCode keeps them after an abort) and says why. */
  readonly withdraw: (conversationId: string, reason: WithdrawReason) => Effect.Effect<void>
  /** Requests waiting in the conversation, oldest first. */
  readonly pendingIn: (conversationId: string) => Effect.Effect<ReadonlyArray<PendingRequest>>
  /** Lines for `/status`. */
  readonly statusLines: (conversationId: string) => Effect.Effect<ReadonlyArray<string>>
}>()("dingtalk-mcp-server/Interactions") {
  /** The service over the configured OpenCode and DingTalk delivery, fed by OpenCode's event stream. */
  static readonly layer = Layer.effect(
    Interactions,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const messages = yield* Messages
      const opencode = yield* OpenCodeClient
      const sessions = yield* Sessions
      const delivery = yield* Delivery
      const conversations = yield* Conversations
      const cards = yield* ActionCards
      const scope = yield* Scope.Scope
      const owners = yield* Effect.serviceOption(ConversationOwners)
      /** In cluster mode, the owner of a conversation another runner holds. */
      const ownerElsewhere = (conversationId: string) =>
        Option.isSome(owners) && !owners.value.isLocal(conversationId) ? owners.value : undefined
      const timeoutMs = settings.interactive.permissionTimeoutMs
      const admins = settings.access.admins
      const pending = new Map<string, PendingRequest>()
      const askers = new Map<string, string>()
      const lastNumber = new Map<string, number>()
      // Names of people seen answering, for "allowed by …" on cards (a click only carries the user ID).
      const nicks = new Map<string, string>()
      // Requests being looked up (their conversation): an event and a poll must not post one twice.
      const claimed = new Set<string>()
      // Requests done with, so a list read just before the answer does not post them again (bounded).
      const done = new Set<string>()
      const markDone = (id: string) => {
        done.add(id)
        if (done.size > 1_000) done.delete(done.values().next().value!)
      }

      const say = (conversationId: string, text: string, format: "text" | "markdown" = "text") =>
        delivery.send({ conversationId, text, format, ...(format === "markdown" ? { title: messages.text("ask.questionTitle") } : {}) }).pipe(
          Effect.catch((error) => Effect.logWarning("Could not post to the chat").pipe(Effect.annotateLogs({ conversationId, error: error.message }))),
          Effect.asVoid
        )
      const inBackground = (effect: Effect.Effect<void>) => Effect.forkIn(effect, scope).pipe(Effect.asVoid)

      const inConversation = (conversationId: string) =>
        [...pending.values()].filter((p) => p.conversationId === conversationId).sort((a, b) => a.number - b.number)

      const settle = (request: PendingRequest) =>
        Effect.suspend(() => {
          markDone(request.id)
          return forget(request)
        })

      /** Drops a request here without answering it (and without marking it done: it may come back here). */
      const forget = (request: PendingRequest) =>
        Effect.suspend(() => {
          pending.delete(request.id)
          const timer = request.timer
          request.timer = undefined
          return timer === undefined ? Effect.void : Fiber.interrupt(timer).pipe(Effect.asVoid)
        })

      const mayAnswer = (request: PendingRequest, who: Answerer) =>
        Effect.gen(function*() {
          if (admins.includes(who.senderKey) || (who.senderId !== undefined && admins.includes(who.senderId))) return true
          if (request.asker !== undefined && request.asker === who.senderKey) return true
          const conversation = yield* conversations.get(request.conversationId)
          return Option.isSome(conversation) && conversation.value.type === "single"
        })

      const refusal = (request: PendingRequest) =>
        messages.text(request.asker === undefined ? "ask.refusal" : "ask.refusalAsker", { number: request.number })

      /** Shows the request: as an interactive card when configured (and it can be delivered), else as markdown. */
      const show = (request: PendingRequest, text: string, options: ReadonlyArray<{ readonly label: string }>) =>
        Effect.gen(function*() {
          const variables = {
            title: messages.text(request.kind === "permission" ? "ask.permissionTitle" : "ask.questionTitle"),
            content: text,
            status: messages.text("ask.waiting"),
            answered: "false",
            kind: request.kind,
            number: String(request.number),
            requestId: request.id,
            sessionId: request.sessionId,
            conversationId: request.conversationId,
            options: JSON.stringify(options.map((option) => option.label)),
          }
          if (request.outTrackId !== undefined) {
            const updated = yield* cards.update(request.outTrackId, variables).pipe(Effect.result)
            if (updated._tag === "Success") return
          } else if (cards.templateId !== undefined) {
            const conversation = yield* conversations.get(request.conversationId)
            if (Option.isSome(conversation)) {
              const outTrackId = `ask_${request.id}`
              const target = { conversationId: request.conversationId, conversationType: conversation.value.type, senderStaffId: conversation.value.lastSenderStaffId }
              const sent = yield* cards.send(target, outTrackId, variables).pipe(Effect.result)
              if (sent._tag === "Success") {
                request.outTrackId = outTrackId
                return
              }
              yield* Effect.logWarning("Interactive card not sent; asking in markdown").pipe(Effect.annotateLogs({ requestId: request.id, error: sent.failure.message }))
            }
          }
          yield* say(request.conversationId, text, "markdown")
        })

      /** Shows the request's decision on its card, if it has one. */
      const closeCard = (request: PendingRequest, status: string) =>
        request.outTrackId === undefined
          ? Effect.void
          : cards.update(request.outTrackId, { status, answered: "true" }).pipe(
            Effect.catch((error) => Effect.logWarning("Card not updated").pipe(Effect.annotateLogs({ requestId: request.id, error: error.message })))
          )

      const postQuestion = (request: PendingRequest) => {
        const questions = request.question?.questions ?? []
        const index = request.answers.length
        const item = questions[index]
        return item === undefined ? Effect.void : show(request, questionText(request, item, index, questions.length, timeoutMs, messages), item.options ?? [])
      }

      /** Rejects a request nobody answered in time, telling the agent (permission message) and the user. */
      const expire = (request: PendingRequest) =>
        Effect.gen(function*() {
          if (!pending.has(request.id)) return
          request.answering = true
          pending.delete(request.id)
          markDone(request.id)
          // The agent reads English, whatever the chat's language.
          const toAgent = `No answer came from DingTalk within ${minutes(timeoutMs, messagesFor("en"))}, so the bridge rejected this request automatically.`
          const sent = request.kind === "permission"
            ? yield* opencode.replyPermission(request.id, "reject", toAgent).pipe(Effect.result)
            : yield* opencode.rejectQuestion(request.id).pipe(Effect.result)
          if (sent._tag === "Failure" && sent.failure._tag !== "PermissionNotFound" && sent.failure._tag !== "QuestionNotFound") {
            yield* Effect.logWarning("Could not reject an expired request").pipe(Effect.annotateLogs({ requestId: request.id, error: sent.failure.message }))
          }
          const time = minutes(timeoutMs, messages)
          const rejected = request.kind === "permission"
          yield* closeCard(request, messages.text(rejected ? "ask.expiredCardRejected" : "ask.expiredCardDismissed", { time }))
          yield* say(request.conversationId, messages.text(rejected ? "ask.expiredRejected" : "ask.expiredDismissed", { number: request.number, time }))
        })

      const track = (kind: "permission" | "question", id: string, sessionId: string, body: { permission?: PermissionRequest; question?: QuestionRequest }) =>
        Effect.suspend(() => {
          if (pending.has(id) || claimed.has(id) || done.has(id)) return Effect.void
          claimed.add(id)
          return post(kind, id, sessionId, body).pipe(Effect.ensuring(Effect.sync(() => claimed.delete(id))))
        })

      const post = Effect.fnUntraced(function*(kind: "permission" | "question", id: string, sessionId: string, body: { permission?: PermissionRequest; question?: QuestionRequest }) {
        const conversationId = yield* sessions.conversationOf(sessionId).pipe(Effect.orElseSucceed(() => Option.none<string>()))
        // A session the bridge does not drive (the TUI, another client): not ours to answer.
        if (Option.isNone(conversationId)) return yield* Effect.logDebug("Request of a session without a conversation ignored").pipe(Effect.annotateLogs({ requestId: id, sessionId }))
        const cid = conversationId.value
        // Cluster mode: every runner sees OpenCode's events; the conversation's owner posts them.
        if (ownerElsewhere(cid) !== undefined) return yield* Effect.logDebug("Request of a conversation another runner owns left to it").pipe(Effect.annotateLogs({ requestId: id, conversationId: cid }))
        const conversation = yield* conversations.get(cid)
        // A conversation this robot never saw (another bridge on the same OpenCode): not ours either.
        if (Option.isNone(conversation)) return yield* Effect.logDebug("Request of an unknown conversation ignored").pipe(Effect.annotateLogs({ requestId: id, conversationId: cid }))
        const number = inConversation(cid).length === 0 ? 1 : (lastNumber.get(cid) ?? 0) + 1
        lastNumber.set(cid, number)
        const request: PendingRequest = {
          kind, id, sessionId, conversationId: cid, number,
          asker: askers.get(cid) ?? Option.getOrUndefined(Option.map(conversation, (c) => c.lastSenderKey)),
          askedAt: yield* Clock.currentTimeMillis,
          permission: body.permission, question: body.question, answers: [], answering: false, outTrackId: undefined, timer: undefined,
        }
        pending.set(id, request)
        request.timer = yield* Effect.forkIn(Effect.sleep(Duration.millis(timeoutMs)).pipe(Effect.andThen(expire(request))), scope)
        yield* Effect.logInfo(`OpenCode asks (${kind}) in the chat`).pipe(Effect.annotateLogs({ conversationId: cid, requestId: id, sessionId }))
        if (body.permission !== undefined) yield* show(request, permissionText(request, body.permission, timeoutMs, messages), [])
        else yield* postQuestion(request)
      })

      /** OpenCode says the request is done: announce it only when someone else (the TUI) answered. */
      const answeredElsewhere = (requestId: string, how: string) =>
        Effect.suspend(() => {
          const request = pending.get(requestId)
          if (request === undefined) return Effect.void
          const announce = !request.answering
          // OpenCode's reply (`once`, `always`, `reject`, …) in the chat's words when it is a known one.
          const known = ["once", "always", "reject", "answered", "dismissed"] as const
          const said = known.find((k) => k === how)
          const shown = said === undefined ? how : messages.text(`ask.how.${said}`)
          return settle(request).pipe(Effect.andThen(announce
            ? closeCard(request, messages.text("ask.answeredInOpenCodeCard", { how: shown })).pipe(
              Effect.andThen(say(request.conversationId, messages.text("ask.answeredInOpenCode", { number: request.number, how: shown })))
            )
            : Effect.void))
        })

      const decodePermission = Schema.decodeUnknownOption(PermissionRequest)
      const decodeQuestion = Schema.decodeUnknownOption(QuestionRequest)
      const decodeReplied = Schema.decodeUnknownOption(Schema.Struct({ requestID: Schema.String, reply: Schema.optional(Schema.String) }))

      const onEvent = (event: { readonly type: string; readonly properties?: unknown }): Effect.Effect<void> => {
        switch (event.type) {
          case "permission.asked": {
            const request = decodePermission(event.properties)
            return Option.isNone(request) ? Effect.void : track("permission", request.value.id, request.value.sessionID, { permission: request.value })
          }
          case "question.asked": {
            const request = decodeQuestion(event.properties)
            return Option.isNone(request) ? Effect.void : track("question", request.value.id, request.value.sessionID, { question: request.value })
          }
          case "permission.replied":
          case "question.replied":
          case "question.rejected": {
            const replied = decodeReplied(event.properties)
            if (Option.isNone(replied)) return Effect.void
            return answeredElsewhere(replied.value.requestID, replied.value.reply ?? (event.type === "question.rejected" ? "dismissed" : "answered"))
          }
          default:
            return Effect.void
        }
      }

      let resyncWarned = false
      const resync = Effect.gen(function*() {
        const startedAt = yield* Clock.currentTimeMillis
        const permissions = yield* opencode.listPermissions
        const questions = yield* opencode.listQuestions
        const listed = new Set([...permissions.map((r) => r.id), ...questions.map((r) => r.id)])
        for (const request of permissions) yield* track("permission", request.id, request.sessionID, { permission: request })
        for (const request of questions) yield* track("question", request.id, request.sessionID, { question: request })
        // Gone from OpenCode's lists without an event we saw: answered somewhere else.
        for (const request of [...pending.values()]) if (request.askedAt < startedAt && !listed.has(request.id)) yield* answeredElsewhere(request.id, "answered")
      }).pipe(Effect.catch((error) => {
        // Said once as a warning (an OpenCode without these routes, or down); the poll repeats it at debug level.
        const log = resyncWarned ? Effect.logDebug : Effect.logWarning
        resyncWarned = true
        return log("Could not read OpenCode's pending requests").pipe(Effect.annotateLogs({ error: error.message }))
      }))

      /** Picks the request a typed answer means: by number, or the only one of that kind. */
      const pick = (conversationId: string, kind: "permission" | "question", number: number | undefined): PendingRequest | string => {
        const waiting = inConversation(conversationId)
        if (number !== undefined) {
          const request = waiting.find((p) => p.number === number)
          if (request === undefined) return messages.text("ask.noSuchRequest", { number })
          if (request.kind !== kind) return messages.text(kind === "permission" ? "ask.isQuestion" : "ask.isPermission", { number })
          return request
        }
        const ofKind = waiting.filter((p) => p.kind === kind)
        if (ofKind.length === 1) return ofKind[0]!
        if (ofKind.length === 0) return messages.text(kind === "permission" ? "ask.noPermission" : "ask.noQuestion")
        return messages.text(kind === "permission" ? "ask.severalPermission" : "ask.severalQuestion", { list: ofKind.map((p) => `#${p.number}`).join(", "), first: ofKind[0]!.number })
      }

      /** Sends the decision to OpenCode; a 404 means someone answered first. Returns what to tell the chat. */
      const decide = (request: PendingRequest, who: Answerer, decision: { readonly _tag: "Permission"; readonly reply: PermissionReply; readonly reason?: string | undefined } | { readonly _tag: "Answers"; readonly answers: ReadonlyArray<ReadonlyArray<string>> } | { readonly _tag: "Skip" }) =>
        Effect.gen(function*() {
          if (who.senderNick !== undefined && who.senderNick !== "") nicks.set(who.senderKey, who.senderNick)
          const by = nicks.get(who.senderKey) ?? who.senderKey
          request.answering = true
          const sent = decision._tag === "Permission"
            ? yield* opencode.replyPermission(request.id, decision.reply, decision.reason).pipe(Effect.result)
            : decision._tag === "Answers"
            ? yield* opencode.replyQuestion(request.id, decision.answers).pipe(Effect.result)
            : yield* opencode.rejectQuestion(request.id).pipe(Effect.result)
          if (sent._tag === "Failure") {
            const error = sent.failure
            if (error._tag === "PermissionNotFound" || error._tag === "QuestionNotFound") {
              yield* settle(request)
              yield* closeCard(request, messages.text("ask.alreadyAnswered"))
              return { status: messages.text("ask.alreadyAnswered"), text: messages.text("ask.alreadyAnsweredText", { number: request.number }) }
            }
            request.answering = false
            // OpenCode's address and raw errors stay in the log, never in chat.
            yield* Effect.logWarning("Could not send an answer to OpenCode").pipe(Effect.annotateLogs({ requestId: request.id, error: error.message }))
            return { status: messages.text("ask.notSent"), text: messages.text("ask.notSentText", { number: request.number }) }
          }
          yield* settle(request)
          const status: string = decision._tag === "Permission"
            ? decision.reply === "reject"
              ? decision.reason === undefined ? messages.text("ask.rejectedBy", { by }) : messages.text("ask.rejectedByReason", { by, reason: decision.reason })
              : messages.text(decision.reply === "always" ? "ask.alwaysBy" : "ask.onceBy", { by })
            : decision._tag === "Answers"
            ? messages.text("ask.answeredBy", { by, answers: decision.answers.map((a) => a.join(", ")).join(" / ") })
            : messages.text("ask.dismissedBy", { by })
          yield* closeCard(request, status)
          yield* Effect.logInfo(`Request answered: ${status}`).pipe(Effect.annotateLogs({ conversationId: request.conversationId, requestId: request.id }))
          return { status, text: `${status} (#${request.number}).` }
        })

      const answer = (who: Answerer, command: AnswerCommand) =>
        inBackground(Effect.gen(function*() {
          const chosen = pick(who.conversationId, command._tag === "Skip" ? "question" : "permission", command.number)
          if (typeof chosen === "string") return yield* say(who.conversationId, chosen)
          if (!(yield* mayAnswer(chosen, who))) return yield* say(who.conversationId, refusal(chosen))
          const outcome = yield* decide(chosen, who, command._tag === "Allow"
            ? { _tag: "Permission", reply: command.reply }
            : command._tag === "Deny"
            ? { _tag: "Permission", reply: "reject", reason: command.reason }
            : { _tag: "Skip" })
          yield* say(who.conversationId, outcome.text)
        }))

      const answerText = (who: Answerer, text: string) =>
        Effect.gen(function*() {
          const request = inConversation(who.conversationId).find((p) => p.kind === "question")
          if (request === undefined) return false
          yield* inBackground(Effect.gen(function*() {
            if (!(yield* mayAnswer(request, who))) return yield* say(who.conversationId, refusal(request))
            const questions = request.question?.questions ?? []
            const item = questions[request.answers.length]
            if (item === undefined) return
            const parsed = parseQuestionAnswer(text, item, messages)
            if (parsed._tag === "Invalid") return yield* say(who.conversationId, parsed.why)
            request.answers.push(parsed.labels)
            if (request.answers.length < questions.length) return yield* postQuestion(request)
            const outcome = yield* decide(request, who, { _tag: "Answers", answers: request.answers })
            yield* say(who.conversationId, outcome.text)
          }))
          return true
        })

      const cardAction = (action: CardAction) =>
        Effect.gen(function*() {
          // Not waiting here: OpenCode's lists decide (the bridge may have restarted since the card went out).
          if (!pending.has(action.requestId)) yield* resync
          const request = pending.get(action.requestId)
          if (request === undefined) {
            if (action.outTrackId !== undefined) {
              yield* cards.update(action.outTrackId, { status: messages.text("ask.alreadyAnswered"), answered: "true" }).pipe(Effect.ignore)
            }
            return { status: messages.text("ask.alreadyAnswered") }
          }
          const who: Answerer = { conversationId: request.conversationId, senderKey: action.userId }
          if (!(yield* mayAnswer(request, who))) {
            yield* say(request.conversationId, refusal(request))
            return { status: messages.text("ask.waiting") }
          }
          if (action.action === "answer") {
            // Several questions are asked one after another, on the same card.
            request.answers.push([action.value ?? ""])
            const total = request.question?.questions.length ?? 1
            if (request.answers.length < total) {
              yield* postQuestion(request)
              return { status: messages.text("ask.waiting") }
            }
          }
          const outcome = yield* decide(request, who, action.action === "skip"
            ? { _tag: "Skip" }
            : action.action === "answer"
            ? { _tag: "Answers", answers: request.answers }
            : { _tag: "Permission", reply: action.action === "always" ? "always" : action.action === "once" ? "once" : "reject" })
          yield* say(request.conversationId, outcome.text)
          return { status: outcome.status }
        })

      const withdraw = (conversationId: string, reason: WithdrawReason) =>
        Effect.suspend(() => {
          // Taken off the list at once, so a second withdraw (the turn ending after /stop) finds nothing.
          const requests = inConversation(conversationId)
          for (const request of requests) {
            request.answering = true
            pending.delete(request.id)
            markDone(request.id)
          }
          return requests.length === 0 ? Effect.void : inBackground(Effect.forEach(requests, (request) => Effect.gen(function*() {
            yield* settle(request)
            const why = messages.text(`ask.why.${reason}`)
            yield* closeCard(request, messages.text("ask.withdrawnCard", { why }))
            yield* (request.kind === "permission" ? opencode.replyPermission(request.id, "reject", WITHDRAWN_TO_AGENT[reason]) : opencode.rejectQuestion(request.id)).pipe(Effect.ignore)
            yield* say(conversationId, messages.text("ask.withdrawn", { number: request.number, why }))
          }), { discard: true }))
        })

      const cardFrame = (data: unknown) =>
        Effect.suspend(() => {
          const click = decodeCardClick(data)
          const requestId = click?.params.requestId ?? (click?.outTrackId.startsWith("ask_") ? click.outTrackId.slice(4) : undefined)
          if (click === undefined || requestId === undefined || click.actionId === undefined) {
            return Effect.logWarning("Card callback not understood; ignored")
          }
          // Acked already; the answer goes to OpenCode in the background.
          return inBackground(routedCardAction({
            userId: click.userId,
            action: click.actionId,
            requestId,
            outTrackId: click.outTrackId,
            sessionId: click.params.sessionId,
            conversationId: click.params.conversationId,
            value: click.params.value,
          }).pipe(
            Effect.tap((outcome) => Effect.logInfo(`Card click: ${outcome.status}`).pipe(Effect.annotateLogs({ requestId, userId: click.userId }))),
            Effect.asVoid
          ))
        })

      const statusLines = (conversationId: string) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          return inConversation(conversationId).map((p) => {
            const left = Math.max(0, timeoutMs - (now - p.askedAt))
            const shown = { number: p.number, left: minutes(Math.ceil(left / 1000) * 1000, messages) }
            if (p.permission === undefined) return messages.text("ask.statusQuestion", { ...shown, question: p.question?.questions[p.answers.length]?.question ?? "" })
            const subject = subjectOf(p.permission)
            return subject === undefined
              ? messages.text("ask.statusPermission", { ...shown, permission: p.permission.permission })
              : messages.text("ask.statusPermissionOn", { ...shown, permission: p.permission.permission, subject: code(subject) })
          })
        })

      // Events post requests at once; after a gap in the stream, and at start (the bridge restarted while
      // the agent asked), OpenCode's lists are read again.
      const events = yield* OpenCodeEvents
      yield* Effect.forkIn(Stream.runForEach(events.events, (event) => onEvent(event).pipe(Effect.catchCause((cause) => Effect.logWarning("OpenCode event not handled", cause)))), scope)
      yield* Effect.forkIn(Stream.runForEach(events.reconnected, () => resync), scope)
      yield* Effect.forkIn(resync, scope)

      let turnsRunning = 0
      let poller: Fiber.Fiber<void> | undefined
      // Sleep first: events cover a turn's requests; a turn shorter than the interval costs OpenCode no extra reads.
      const poll = Effect.sleep(POLL_INTERVAL).pipe(Effect.andThen(resync), Effect.forever, Effect.asVoid)
      const duringTurn = (conversationId: string, senderKey: string, senderNick?: string) => <A, E, R>(turn: Effect.Effect<A, E, R>) =>
        Effect.gen(function*() {
          askers.set(conversationId, senderKey)
          if (senderNick !== undefined && senderNick !== "") nicks.set(senderKey, senderNick)
          if (turnsRunning++ === 0) poller = yield* Effect.forkIn(poll, scope)
          return yield* turn
        }).pipe(Effect.onExit((exit) => Effect.suspend(() => {
          const waiting = inConversation(conversationId)
          // A turn that ended while its request waited (turn timeout, error) leaves it pending in OpenCode: reject it.
          // An interrupted one (shutdown; in cluster mode, its conversation moving to another runner) still runs in
          // OpenCode, and whoever owns the conversation next posts the request again: only forget it here.
          const leftOver = waiting.length === 0
            ? Effect.void
            : Exit.hasInterrupts(exit)
            ? Effect.forEach(waiting, forget, { discard: true })
            : withdraw(conversationId, "turnEnded")
          if (--turnsRunning > 0 || poller === undefined) return leftOver
          const stopping = poller
          poller = undefined
          return Fiber.interrupt(stopping).pipe(Effect.andThen(leftOver))
        })))

      // On shutdown the timers go with the scope; OpenCode keeps the requests, and a restart posts them again.
      // Cluster mode: answers that reached a runner which does not own the conversation go to the one that does.
      // The message stream never waits on another runner: answers go in the background, and the question
      // "is this text an answer?" gets ANSWER_HANDOFF_WAIT before the text is taken as a new prompt.
      const routedAnswer = (who: Answerer, command: AnswerCommand) => {
        const owner = ownerElsewhere(who.conversationId)
        return owner === undefined ? answer(who, command) : inBackground(owner.answer(who, command))
      }
      const routedAnswerText = (who: Answerer, text: string) => {
        const owner = ownerElsewhere(who.conversationId)
        return owner === undefined
          ? answerText(who, text)
          : owner.answerText(who, text).pipe(Effect.timeoutOption(ANSWER_HANDOFF_WAIT), Effect.map(Option.getOrElse(() => false)))
      }
      const routedCardAction = (action: CardAction) => {
        const conversationId = action.conversationId
        const owner = conversationId === undefined ? undefined : ownerElsewhere(conversationId)
        return owner === undefined || conversationId === undefined ? cardAction(action) : owner.cardAction({ ...action, conversationId })
      }
      return Interactions.of({
        onEvent,
        resync,
        duringTurn,
        answer: routedAnswer,
        answerText: routedAnswerText,
        cardAction: routedCardAction,
        here: { answer, answerText, cardAction, withdraw },
        cardFrame,
        withdraw: (conversationId, reason) => {
          const owner = ownerElsewhere(conversationId)
          return owner === undefined ? withdraw(conversationId, reason) : inBackground(owner.withdraw(conversationId, reason))
        },
        pendingIn: (conversationId) => Effect.sync(() => inConversation(conversationId)),
        statusLines,
      })
    })
  )
}
