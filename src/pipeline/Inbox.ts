/**
 * The durable inbox: every message that starts a turn is written to a journal under
 * `BRIDGE_STATE_DIR` right after its ack, and removed once its answer has been delivered. What is
 * left on start was cut off by a crash and is resumed (see `Resume.ts`). One file per message
 * (a `KeyValueStore` on the file system), 0600 in a 0700 folder: entries hold reply webhooks.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Clock, Context, Effect, FileSystem, Layer, Path, Schema } from "effect"
import { KeyValueStore } from "effect/persistence"
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
}

/** What a turn tells the inbox as it goes. */
export interface TurnJournal {
  /** Records the session the prompt goes to; returns the `messageID` to send it with. */
  readonly prompting: (sessionId: string) => Effect.Effect<string>
  /** The answer (or the reason there is none) has been delivered: the entry is done. */
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
})
const decodeEntry = Schema.decodeUnknownOption(Schema.fromJsonString(EntrySchema))

/** The journal of unanswered messages. */
export class Inbox extends Context.Service<Inbox, {
  /** Journals a message (right after its ack); returns its entry. */
  readonly record: (message: InboundMessage, text: string, queuedAt: number) => Effect.Effect<InboxEntry>
  /** The hooks a turn calls for `entry`. */
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
    const unusable = (error: { readonly message: string }) => new StateDirUnusable({ path: directory, detail: error.message })
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(Effect.andThen(fs.chmod(directory, 0o700)), Effect.mapError(unusable))
    const store = yield* Layer.build(KeyValueStore.layerFileSystem(directory)).pipe(
      Effect.map(Context.get(KeyValueStore.KeyValueStore)),
      Effect.mapError(unusable)
    )

    const pending: Array<InboxEntry> = []
    for (const file of yield* fs.readDirectory(directory).pipe(Effect.mapError(unusable))) {
      if (file.endsWith(".corrupt")) continue
      const text = yield* fs.readFileString(paths.join(directory, file)).pipe(Effect.orElseSucceed(() => ""))
      const entry = decodeEntry(text)
      if (entry._tag === "Some") {
        const { message } = entry.value
        pending.push({
          ...entry.value,
          message: { ...message, conversationTitle: message.conversationTitle, senderStaffId: message.senderStaffId, body: message.body as InboundMessage["body"] },
        })
      } else {
        // A write cut off by the crash itself: keep it for a person to look at, never guess.
        yield* fs.rename(paths.join(directory, file), paths.join(directory, `${file}.corrupt`)).pipe(Effect.ignore)
        yield* Effect.logWarning(`Unreadable inbox entry moved aside to ${file}.corrupt`).pipe(Effect.annotateLogs({ directory }))
      }
    }
    pending.sort((a, b) => a.seq - b.seq)
    if (pending.length > 0) yield* Effect.logWarning(`${pending.length} message(s) were not answered before the last stop; resuming them`)

    let lastSeq = pending.at(-1)?.seq ?? 0
    const write = (entry: InboxEntry) =>
      store.set(entry.key, JSON.stringify(entry)).pipe(
        Effect.andThen(fs.chmod(paths.join(directory, encodeURIComponent(entry.key)), 0o600)),
        Effect.catch((error) => Effect.logWarning(`Could not journal message ${entry.key}: ${error.message}`))
      )

    const record = (message: InboundMessage, text: string, queuedAt: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        lastSeq = Math.max(lastSeq + 1, now * 1000)
        const entry: InboxEntry = { key: `${message.robotCode}:${message.msgId}`, seq: lastSeq, message, text, queuedAt }
        yield* write(entry)
        return entry
      })

    const journal = (entry: InboxEntry): TurnJournal => ({
      prompting: (sessionId) =>
        Effect.gen(function*() {
          const messageId = ascendingMessageId(yield* Clock.currentTimeMillis)
          yield* write({ ...entry, turn: { sessionId, messageId } })
          return messageId
        }),
      delivered: store.remove(entry.key).pipe(
        Effect.catch((error) => Effect.logWarning(`Could not clear inbox entry ${entry.key}: ${error.message}`))
      ),
    })

    return Inbox.of({ record, journal, pending })
  })
