/**
 * The durable inbox: every message that starts a turn is written to a journal under
 * `BRIDGE_STATE_DIR` right after its ack, and removed once its answer has been delivered. What is
 * left on start was cut off by a crash and is resumed (see `Resume.ts`). One file per message
 * (named by `robotCode:msgId`), 0600 in a 0700 folder: entries hold reply webhooks.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Clock, Context, Effect, Exit, Fiber, FileSystem, Layer, Path, Schema, Scope } from "effect"
import { StateDirUnusable } from "../dingtalk/Conversations.js"
import type { InboundMessage } from "../dingtalk/RobotMessage.js"
import { ascendingMessageId } from "../opencode/MessageId.js"

/** A message waiting for its answer to be delivered. */
export interface InboxEntry {
  /** `robotCode:msgId`. */
  readonly key: string
  /** Arrival order. */
  readonly seq: number
  readonly message: InboundMessage
  /** The prompt text. */
  readonly text: string
  readonly queuedAt: number
  /** Set just before the prompt goes to OpenCode: where to look for its reply after a crash. */
  readonly turn?: { readonly sessionId: string; readonly messageId: string } | undefined
  /** Set just before the answer's first part leaves: the answer is never sent again. */
  readonly sending?: boolean | undefined
}

/** What a turn tells the inbox as it goes. */
export interface TurnJournal {
  /** Records the session the prompt goes to; returns the `messageID` to send it with. */
  readonly prompting: (sessionId: string) => Effect.Effect<string>
  /**
   * Sends the answer (or the reason there is none) and then clears the entry, in a fiber of the inbox:
   * a shutdown that interrupts the turn does not stop a reply already on its way from being recorded.
   */
  readonly deliver: <A, E>(send: Effect.Effect<A, E>) => Effect.Effect<A, E>
  /** Records that part `part` of the answer is leaving (see `SendRequest.onPartSending`); absent when not kept. */
  readonly sending?: ((part: number) => Effect.Effect<void>) | undefined
  /** The entry is done (no answer to send, e.g. the backlog was full and a notice went out). */
  readonly delivered: Effect.Effect<void>
}

const EntrySchema = Schema.Struct({
  key: Schema.String,
  seq: Schema.Number,
  message: Schema.Struct({
    robotCode: Schema.String,
    msgId: Schema.String,
    conversationId: Schema.String,
    conversationType: Schema.Literals(["single", "group"]),
    conversationTitle: Schema.optionalKey(Schema.String),
    senderId: Schema.String,
    senderKey: Schema.String,
    senderStaffId: Schema.optionalKey(Schema.String),
    senderNick: Schema.String,
    body: Schema.Unknown,
    webhook: Schema.String,
    webhookExpiresAt: Schema.Number,
    receivedAt: Schema.Number,
  }),
  text: Schema.String,
  queuedAt: Schema.Number,
  turn: Schema.optionalKey(Schema.Struct({ sessionId: Schema.String, messageId: Schema.String })),
  sending: Schema.optionalKey(Schema.Boolean),
})
const decodeEntry = Schema.decodeUnknownOption(Schema.fromJsonString(EntrySchema))

/** The journal of unanswered messages. */
export class Inbox extends Context.Service<Inbox, {
  /** Journals a message (right after its ack, in the background); returns the hooks its turn calls. */
  readonly record: (message: InboundMessage, text: string, queuedAt: number) => Effect.Effect<TurnJournal>
  /** The hooks a resumed turn calls for a pending entry. */
  readonly journal: (entry: InboxEntry) => TurnJournal
  /** The entries found on start (cut off by a crash), oldest first. */
  readonly pending: ReadonlyArray<InboxEntry>
}>()("dingtalk-mcp-server/Inbox") {
  /** The inbox in `directory`. */
  static readonly layerPersisted = (directory: string) =>
    Layer.effect(Inbox, makeInbox(directory)).pipe(Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)))
}

const makeInbox = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const scope = yield* Scope.Scope
    const unusable = (error: { readonly message: string }) => new StateDirUnusable({ path: directory, detail: error.message })
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(Effect.andThen(fs.chmod(directory, 0o700)), Effect.mapError(unusable))
    const fileOf = (key: string) => paths.join(directory, encodeURIComponent(key))

    const pending: Array<InboxEntry> = []
    for (const file of yield* fs.readDirectory(directory).pipe(Effect.mapError(unusable))) {
      if (file.endsWith(".corrupt")) continue
      const path = paths.join(directory, file)
      if (file.endsWith(".tmp")) {
        yield* fs.remove(path).pipe(Effect.ignore)
        continue
      }
      const text = yield* fs.readFileString(path).pipe(Effect.orElseSucceed(() => ""))
      const entry = decodeEntry(text)
      if (entry._tag === "Some") {
        const { message } = entry.value
        pending.push({
          ...entry.value,
          message: { ...message, conversationTitle: message.conversationTitle, senderStaffId: message.senderStaffId, body: message.body as InboundMessage["body"] },
        })
      } else {
        // A write cut off by the crash itself: keep it for a person to look at, never guess.
        yield* fs.rename(path, `${path}.corrupt`).pipe(Effect.ignore)
        yield* Effect.logWarning(`Unreadable inbox entry moved aside to ${file}.corrupt`).pipe(Effect.annotateLogs({ directory }))
      }
    }
    pending.sort((a, b) => a.seq - b.seq)
    if (pending.length > 0) yield* Effect.logWarning(`${pending.length} message(s) were not answered before the last stop; resuming them`)

    const warn = (what: string, key: string) => (error: { readonly message: string }) =>
      Effect.logWarning(`Could not ${what} inbox entry ${key}: ${error.message}`)
    // Created 0600 from the start; an update goes through a temporary file so a crash never leaves half of it.
    const create = (entry: InboxEntry) =>
      fs.writeFileString(fileOf(entry.key), JSON.stringify(entry), { mode: 0o600 }).pipe(Effect.catch(warn("write", entry.key)))
    const update = (entry: InboxEntry) => {
      const temporary = `${fileOf(entry.key)}.tmp`
      return fs.writeFileString(temporary, JSON.stringify(entry), { mode: 0o600 }).pipe(
        Effect.andThen(fs.rename(temporary, fileOf(entry.key))),
        Effect.catch(warn("update", entry.key))
      )
    }
    const remove = (key: string) => fs.remove(fileOf(key), { force: true }).pipe(Effect.catch(warn("clear", key)))

    let lastSeq = pending.at(-1)?.seq ?? 0
    const journalOf = (entry: InboxEntry, written: Effect.Effect<void>): TurnJournal => {
      let current = entry
      return {
        prompting: (sessionId) =>
          Effect.gen(function*() {
            yield* written
            const messageId = ascendingMessageId(yield* Clock.currentTimeMillis)
            current = { ...current, turn: { sessionId, messageId } }
            yield* update(current)
            return messageId
          }),
        sending: (part) =>
          part > 0 ? Effect.void : written.pipe(Effect.andThen(Effect.suspend(() => update(current = { ...current, sending: true })))),
        deliver: (send) =>
          Effect.forkIn(written.pipe(Effect.andThen(send), Effect.onExit((exit) => Exit.hasInterrupts(exit) ? Effect.void : remove(entry.key))), scope).pipe(
            Effect.flatMap(Fiber.join)
          ),
        delivered: written.pipe(Effect.andThen(remove(entry.key))),
      }
    }

    // The write runs beside the message path (it must not slow the stream down); the turn's hooks wait for it.
    const record = (message: InboundMessage, text: string, queuedAt: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        lastSeq = Math.max(lastSeq + 1, now * 1000)
        const entry: InboxEntry = { key: `${message.robotCode}:${message.msgId}`, seq: lastSeq, message, text, queuedAt }
        const writing = yield* Effect.forkIn(Effect.uninterruptible(create(entry)), scope)
        return journalOf(entry, Fiber.join(writing))
      })

    return Inbox.of({ record, journal: (entry) => journalOf(entry, Effect.void), pending })
  })
