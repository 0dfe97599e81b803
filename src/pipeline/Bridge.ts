/**
 * The message pipeline as one service: DingTalk frames → decode → dedup → access policy → remember the
 * conversation → route (commands) → schedule → OpenCode turn → Delivery. `run` keeps it going and fails
 * only when the DingTalk connection is lost for good.
 */
import { Clock, Context, Effect, identity, Layer, Option, Scope, Stream } from "effect"
import { conversationLabel, type InboundMessage } from "../dingtalk/RobotMessage.js"
import { BridgeConfig, robotCodeOf } from "../core/BridgeConfig.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { Messages } from "../core/Messages.js"
import { AccessPolicy } from "../dingtalk/AccessPolicy.js"
import { Conversations } from "../dingtalk/Conversations.js"
import { Delivery } from "../dingtalk/Delivery.js"
import { type CallbackFrame, type ConnectionFatal, DingTalkStream } from "../dingtalk/DingTalkStream.js"
import { OpenCodeClient } from "../opencode/OpenCodeClient.js"
import { OpenCodeEvents } from "../opencode/OpenCodeEvents.js"
import { Cards } from "../dingtalk/Cards.js"
import { Sessions } from "../opencode/Sessions.js"
import { decodeFrame } from "./Decode.js"
import { makeDedup } from "./Dedup.js"
import { ChatChoices } from "./ChatChoices.js"
import { ChatSettings } from "./ChatSettings.js"
import { Interactions } from "./Interactions.js"
import { isAnswer } from "./InteractiveCommands.js"
import { CARD_TOPIC } from "../dingtalk/StreamClient.js"
import { makeAccessReplies } from "./AccessReplies.js"
import { type Command, helpText, needsAdmin, route } from "./Route.js"
import { makeTurnScheduler } from "./TurnScheduler.js"
import { Inbox } from "./Inbox.js"
import { ClusterTurns } from "./ClusterTurns.js"
import { resumeTurn } from "./Resume.js"
import { makePromptParts } from "./PromptParts.js"
import { type RunningTurns, runTurnWhenReady } from "./Turn.js"

/** Texts longer than this are refused instead of being sent to the agent. */
const MAX_INPUT_BYTES = 64 * 1024

/** The running pipeline. */
export class Bridge extends Context.Service<Bridge, {
  /** Processes messages until the DingTalk connection fails for good. */
  readonly run: Effect.Effect<never, ConnectionFatal>
}>()("dingtalk-mcp-server/Bridge") {
  /** The pipeline over the given services. */
  static readonly layer = Layer.effect(
    Bridge,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const stream = yield* DingTalkStream
      const conversations = yield* Conversations
      const delivery = yield* Delivery
      const metrics = yield* BridgeMetrics
      const sessions = yield* Sessions
      const opencode = yield* OpenCodeClient
      const access = yield* AccessPolicy
      const messages = yield* Messages
      const interactions = yield* Interactions
      const chatSettings = yield* ChatSettings
      const chatChoices = yield* ChatChoices
      const services = yield* Effect.context<Sessions | OpenCodeClient | Delivery | BridgeMetrics | BridgeConfig | OpenCodeEvents | Cards | ChatSettings | Messages>()
      const inbox = yield* Effect.serviceOption(Inbox)
      const clusterTurns = yield* Effect.serviceOption(ClusterTurns)
      const scope = yield* Scope.Scope
      const robotCode = robotCodeOf(settings)

      const isFirstSeen = yield* makeDedup({ capacity: settings.pipeline.dedupCapacity, ttlMs: settings.pipeline.dedupTtlMs })
      const scheduler = yield* makeTurnScheduler({
        concurrency: settings.pipeline.concurrency,
        backlog: settings.pipeline.backlog,
        // In cluster mode turns run in the conversation entities, which keep these gauges themselves.
        onChange: Option.isSome(clusterTurns) ? () => Effect.void : metrics.setQueue,
      })
      const running: RunningTurns = new Map()
      const promptParts = yield* makePromptParts

      // Notices go out in the background: a rate-limited reply must never hold up the message stream.
      const inBackground = <E>(effect: Effect.Effect<unknown, E>) => Effect.forkIn(Effect.ignore(effect), scope).pipe(Effect.asVoid)
      const notify = (conversationId: string, text: string) =>
        delivery.send({ conversationId, text, format: "text" }).pipe(
          Effect.catch((error) => Effect.logWarning("Notice not delivered").pipe(Effect.annotateLogs({ conversationId, error: error.message }))),
          inBackground
        )

      // Refusals, pairing codes and "busy": one per sender per window, on their own small budget.
      const replies = yield* makeAccessReplies({ access, delivery, metrics, messages, notify, inBackground })

      const statusText = (conversationId: string) =>
        Effect.gen(function*() {
          const session = yield* sessions.peek(conversationId)
          const queue = scheduler.queueOf(conversationId)
          // In cluster mode the chat's turn may run on another runner: OpenCode says whether one runs.
          const answering = queue.running || (Option.isSome(clusterTurns) && (yield* runningSession(conversationId)) !== undefined)
          // This process's turns (in cluster mode, this runner's), as `dingtalk_get_performance` shows them.
          const { gauges } = yield* metrics.snapshot
          const connection = yield* stream.status
          const reachable = yield* opencode.reachable
          return [
            messages.text("status.session", { session: Option.getOrElse(session, () => messages.text("status.noSession")) }),
            messages.text("status.thisChat", { state: messages.text(answering ? "status.answering" : "status.idle"), waiting: queue.waiting }),
            messages.text("status.allChats", { running: gauges.inFlight, waiting: gauges.queueDepth }),
            messages.text("status.dingtalk", { state: messages.text(`connection.${connection.state}`) }),
            messages.text("status.opencode", { state: messages.text(reachable ? "status.reachable" : "status.unreachable") }),
            ...(yield* chatSettings.statusLines(conversationId)),
            ...(yield* interactions.statusLines(conversationId)),
          ].join("\n")
        }).pipe(Effect.withSpan("Bridge.status"))

      /**
       * The session of the conversation's running turn. In cluster mode the turn may run on another
       * runner; OpenCode (which every runner shares) says which of the conversation's sessions is busy.
       */
      const runningSession = (conversationId: string) =>
        Effect.suspend(() => {
          const local = running.get(conversationId)
          if (local !== undefined || Option.isNone(clusterTurns)) return Effect.succeed(local)
          return Effect.all([opencode.sessionStatus, sessions.listFor(conversationId)]).pipe(
            Effect.map(([statuses, mine]) => mine.find((session) => statuses[session.id]?.type === "busy")?.id),
            Effect.catch((error) => Effect.logWarning("Could not ask OpenCode which turn runs").pipe(Effect.annotateLogs({ error: error.message }), Effect.as(undefined)))
          )
        })

      const runCommand = (message: InboundMessage, command: Command) => {
        const conversationId = message.conversationId
        switch (command) {
          case "help":
            return notify(conversationId, helpText(messages))
          case "status":
            return statusText(conversationId).pipe(Effect.flatMap((text) => delivery.send({ conversationId, text, title: messages.text("status.title") })), inBackground)
          case "stop": {
            return runningSession(conversationId).pipe(Effect.flatMap((sessionId) => sessionId === undefined
              ? notify(conversationId, messages.text("stop.nothingRunning"))
              : opencode.abort(sessionId).pipe(
                // OpenCode leaves the aborted turn's permission requests and questions pending: close them.
                Effect.andThen(interactions.withdraw(conversationId, "stopped")),
                Effect.catch((error) =>
                  Effect.logWarning("Could not stop the turn").pipe(
                    Effect.annotateLogs({ error: error.message }),
                    Effect.andThen(notify(conversationId, messages.text("stop.failed")))
                  ))
              )))
          }
          case "new":
            // Queued like a message, so it applies after the ones sent before it.
            return scheduler.submit(conversationId, sessions.startNew(conversationId, conversationLabel(message)).pipe(
              // Kept as the conversation's choice: in cluster mode the runner that runs its turns reads it there.
              Effect.tap((id) => chatChoices.set(conversationId, { sessionId: id })),
              Effect.flatMap((id) => notify(conversationId, messages.text("new.started", { session: id }))),
              Effect.catch((error) =>
                Effect.logWarning("Could not start a new session").pipe(
                  Effect.annotateLogs({ error: error.message }),
                  Effect.andThen(notify(conversationId, messages.text("new.failed")))
                ))
            )).pipe(Effect.asVoid)
        }
      }

      const handle = (message: InboundMessage) =>
        Effect.gen(function*() {
          // Before anything is remembered: a sender who is not let in leaves no conversation behind.
          const decision = yield* access.decide(message)
          if (decision._tag !== "Allowed") return yield* replies.refuse(message, decision)
          yield* conversations.remember(message)
          yield* Effect.logInfo(`Message from ${message.senderNick || message.senderKey}: ${preview(message)}`).pipe(
            Effect.annotateLogs({ conversationType: message.conversationType, sender: message.senderKey, ...(message.conversationTitle ? { conversationTitle: message.conversationTitle } : {}) })
          )
          const decided = route(message, MAX_INPUT_BYTES)
          const conversationId = message.conversationId
          const queuedAt = yield* Clock.currentTimeMillis
          if (needsAdmin(decided, message.conversationType) && !decision.admin) return yield* replies.adminOnly(message)
          switch (decided._tag) {
            case "Pair":
              yield* metrics.increment("commands")
              return yield* replies.approvePairing(message, decided.code)
            case "Unsupported":
              yield* metrics.increment("unsupported")
              yield* Effect.logInfo(`Unsupported message type ${decided.msgtype}`)
              return yield* notify(conversationId, messages.text("input.unsupported", { msgtype: decided.msgtype }))
            case "Malformed":
              yield* metrics.increment("malformed")
              yield* Effect.logWarning(`Malformed ${decided.msgtype} message: ${decided.reason}`)
              return yield* notify(conversationId, messages.text("input.malformed", { msgtype: decided.msgtype, reason: messages.text(`malformed.${decided.problem}`) }))
            case "TooLong":
              yield* metrics.increment("malformed")
              return yield* notify(conversationId, messages.text("input.tooLong", { bytes: decided.bytes, limit: MAX_INPUT_BYTES }))
            case "Empty":
              return yield* notify(conversationId, helpText(messages))
            case "Command":
              yield* metrics.increment("commands")
              return yield* runCommand(message, decided.command)
            case "Interactive": {
              yield* metrics.increment("commands")
              const who = { conversationId, senderKey: message.senderKey, senderId: message.senderId, senderNick: message.senderNick }
              // Answers act at once: the turn they unblock is running in this very conversation.
              return yield* isAnswer(decided.command) ? interactions.answer(who, decided.command) : inBackground(chatSettings.run(message, decided.command))
            }
            case "Turn": {
              // While the agent waits for a question's answer, a plain message is that answer.
              const who = { conversationId, senderKey: message.senderKey, senderId: message.senderId, senderNick: message.senderNick }
              if (yield* interactions.answerText(who, decided.text)) return
              // Cluster mode: the conversation's entity (on whichever runner owns it) runs the turn.
              if (Option.isSome(clusterTurns)) return yield* clusterTurns.value.submit(message, decided.text, queuedAt)
              const journal = Option.isSome(inbox) ? yield* inbox.value.record(message, decided.text, queuedAt) : undefined
              // The turn runs in a scheduler fiber; its spans stay in this message's trace.
              const span = yield* Effect.option(Effect.currentSpan)
              // Attachments are fetched now; the turn waits for them (nothing left to send: the user was told why).
              const parts = yield* promptParts.prepare(message, decided.text)
              const turn = runTurnWhenReady(message, parts, running, queuedAt, journal).pipe(
                Option.isSome(span) ? Effect.withParentSpan(span.value) : identity,
                interactions.duringTurn(conversationId, message.senderKey, message.senderNick)
              )
              const accepted = yield* scheduler.submit(conversationId, turn.pipe(Effect.provideContext(services)))
              if (accepted === "busy") {
                if (journal !== undefined) yield* journal.delivered
                yield* metrics.increment("busy")
                yield* replies.gated("busy", message, notify(conversationId, messages.text("input.busy", { waiting: scheduler.depth() })))
              }
            }
          }
        }).pipe(
          Effect.withSpan("Bridge.handle", { attributes: { conversationId: message.conversationId, msgId: message.msgId } }),
          Effect.annotateLogs({ conversationId: message.conversationId, msgId: message.msgId })
        )

      /** One acked frame, start to end: card click, or decode → dedup → handle. One stage keeps the order and costs no per-stage hand-offs. */
      const onFrame = (frame: CallbackFrame) =>
        Effect.gen(function*() {
          yield* metrics.increment("received")
          // Card button clicks are not robot messages: they answer the agent's requests.
          if (frame.topic === CARD_TOPIC) return yield* interactions.cardFrame(frame.data)
          const decoded = yield* decodeFrame(frame, robotCode)
          // A rejected frame is counted and logged, then dropped (it was acked already).
          if (decoded._tag === "Failure") {
            yield* metrics.increment("malformed")
            return yield* Effect.logWarning(`Malformed message ignored: ${decoded.failure.reason}`).pipe(Effect.annotateLogs({ frameId: decoded.failure.frameId }))
          }
          const message = decoded.success
          if (!(yield* isFirstSeen(message))) {
            yield* metrics.increment("duplicates")
            return yield* Effect.logInfo("Duplicate message ignored").pipe(Effect.annotateLogs({ msgId: message.msgId }))
          }
          yield* handle(message)
        })

      // Routing is quick (turns run in the scheduler): taking frames one by one keeps their order.
      const frames = stream.frames.pipe(
        Stream.runForEach((frame) => onFrame(frame).pipe(Effect.catchCause((cause) => Effect.logError("Message handling failed", cause))))
      )
      const malformedFrames = stream.malformed.pipe(
        Stream.runForEach((frame) =>
          metrics.increment("received").pipe(
            Effect.andThen(metrics.increment("malformed")),
            Effect.andThen(Effect.logWarning(`Malformed frame ignored: ${frame.reason}`).pipe(Effect.annotateLogs({ connectionId: frame.connectionId })))
          )
        )
      )

      // Messages the last process acked but did not answer go first, each in its conversation's order.
      const resumePending = Effect.forEach(Option.isSome(inbox) ? inbox.value.pending : [], (entry) =>
        Effect.gen(function*() {
          yield* isFirstSeen(entry.message)
          const journal = inbox.pipe(Option.getOrThrow).journal(entry)
          // Asked again from scratch: the attachments are fetched again (DingTalk's codes outlive a restart).
          const rerun = runTurnWhenReady(entry.message, Effect.flatten(promptParts.prepare(entry.message, entry.text)), running, entry.queuedAt, journal)
          yield* scheduler.submit(entry.message.conversationId, resumeTurn(entry, journal, rerun).pipe(Effect.provideContext(services)))
        }), { discard: true })

      const run = Effect.gen(function*() {
        yield* resumePending
        yield* Effect.forkChild(malformedFrames)
        yield* Effect.forkChild(frames)
        return yield* stream.fatal
      })
      return Bridge.of({ run })
    })
  )
}

const preview = (message: InboundMessage): string => {
  const text = message.body._tag === "Text" ? message.body.text : `[${message.body.msgtype}]`
  const oneLine = text.replace(/\s+/g, " ")
  return oneLine.length > 60 ? `${oneLine.slice(0, 60)}…` : oneLine
}
