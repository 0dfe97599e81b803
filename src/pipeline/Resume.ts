/**
 * Resuming a message the last process acked but did not answer. If its prompt reached OpenCode and
 * the turn finished (or finishes while we wait), that answer is delivered; otherwise the prompt is
 * run again. The prompt's `messageID` (recorded in the inbox before sending) finds the turn: its
 * reply has `parentID` = that ID.
 */
import { Duration, Effect, Schedule } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { Delivery } from "../dingtalk/Delivery.js"
import { OpenCodeClient, type TurnResult } from "../opencode/OpenCodeClient.js"
import { turnOf } from "../opencode/TurnLookup.js"
import type { InboxEntry, TurnJournal } from "./Inbox.js"

/** How often a turn still running in OpenCode is looked at again. */
const POLL = Duration.seconds(1)

/**
 * The job that resumes `entry`; `rerun` runs the prompt again as a fresh turn. `match` finds the prompt
 * in the history when its exact ID is not known (cluster runners derive only its tail).
 */
export const resumeTurn = <R>(entry: InboxEntry, journal: TurnJournal, rerun: Effect.Effect<void, never, R>, match?: (id: string) => boolean) =>
  Effect.gen(function*() {
    const settings = yield* BridgeConfig
    const opencode = yield* OpenCodeClient
    const delivery = yield* Delivery
    const conversationId = entry.message.conversationId
    if (entry.sending === true) {
      // Its answer had started to leave: sending it again could answer twice.
      yield* Effect.logWarning("The answer to this message was being sent when the bridge stopped; not sending it again")
      return yield* journal.delivered
    }
    if (entry.turn === undefined) {
      yield* Effect.logInfo("Resuming a message that had not reached OpenCode: running it")
      return yield* rerun
    }
    const { sessionId, messageId } = entry.turn
    const lookup = yield* turnOf(sessionId, match ?? messageId).pipe(
      Effect.repeat({ schedule: Schedule.spaced(POLL), until: (found) => found._tag !== "Running" }),
      Effect.timeoutOption(Duration.millis(settings.opencode.turnTimeoutMs)),
      Effect.result
    )
    if (lookup._tag === "Failure") {
      yield* Effect.logWarning("Could not look up the interrupted turn; running it again").pipe(Effect.annotateLogs({ error: lookup.failure.message }))
      return yield* rerun
    }
    if (lookup.success._tag === "None") {
      yield* Effect.logWarning("The interrupted turn is still running past the turn timeout; stopping it and running it again")
      yield* opencode.abort(sessionId).pipe(Effect.ignore)
      return yield* rerun
    }
    const found = lookup.success.value
    switch (found._tag) {
      case "Absent":
      case "Interrupted":
      case "Running":
        yield* Effect.logInfo(`The interrupted turn ${found._tag === "Absent" ? "never reached OpenCode" : "did not finish"}: running it again`)
        return yield* rerun
      case "Failed":
      case "Finished": {
        yield* Effect.logInfo("The interrupted turn finished in OpenCode: delivering its answer")
        const reply = found._tag === "Failed"
          ? { text: `⚠️ OpenCode reported ${found.name}: ${found.detail}`, format: "text" as const }
          : replyFor(found.result)
        return yield* journal.deliver(delivery.send({ conversationId, ...reply, onPartSending: journal.sending })).pipe(
          Effect.catch((error) => Effect.logError("Reply could not be delivered").pipe(Effect.annotateLogs({ error: error.message }))),
          Effect.asVoid
        )
      }
    }
  }).pipe(Effect.annotateLogs({ conversationId: entry.message.conversationId, msgId: entry.message.msgId, resumed: true }))

/** The reply to a finished turn, as `runTurn` words it. */
const replyFor = (result: TurnResult) =>
  result._tag === "Aborted"
    ? { text: "⏹ Stopped.", format: "text" as const }
    : { text: result.text.trim() === "" ? "(OpenCode finished without a text answer.)" : result.text, format: "markdown" as const }
