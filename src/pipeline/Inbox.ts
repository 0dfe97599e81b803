/**
 * The durable inbox: every message that starts a turn is written to a journal under
 * `BRIDGE_STATE_DIR` right after its ack, and removed once its answer has been delivered. What is
 * left on start was cut off by a crash and is resumed (see `Resume.ts`). The journal is one append-only
 * file of JSON lines (a message added, its turn, its answer leaving, done), 0600 in a 0700 folder (entries hold
 * reply webhooks): one write per event instead of a file per message, which cost several file calls each.
 */
import { Clock, Context, Effect, Exit, Fiber, Layer, Schema, Scope } from "effect"
import fs from "node:fs"
import path from "node:path"
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
    // What the prompt is built from after a restart (attachments are fetched again then).
    attachments: Schema.optionalKey(Schema.Array(Schema.Unknown)),
    quote: Schema.optionalKey(Schema.Unknown),
    transcribed: Schema.optionalKey(Schema.Boolean),
    webhook: Schema.String,
    webhookExpiresAt: Schema.Number,
    receivedAt: Schema.Number,
  }),
  text: Schema.String,
  queuedAt: Schema.Number,
  turn: Schema.optionalKey(Schema.Struct({ sessionId: Schema.String, messageId: Schema.String })),
  sending: Schema.optionalKey(Schema.Boolean),
})
/** One line of the journal. */
const JournalLine = Schema.Union([
  Schema.Struct({ op: Schema.Literal("add"), entry: EntrySchema }),
  Schema.Struct({ op: Schema.Literal("turn"), key: Schema.String, turn: Schema.Struct({ sessionId: Schema.String, messageId: Schema.String }) }),
  Schema.Struct({ op: Schema.Literal("sending"), key: Schema.String }),
  Schema.Struct({ op: Schema.Literal("done"), key: Schema.String }),
])
const decodeLine = Schema.decodeUnknownOption(Schema.fromJsonString(JournalLine))

/** The journal file inside the inbox folder. */
export const JOURNAL_FILE = "journal.ndjson"
/** Past this many lines, a journal with nothing pending is started afresh. */
const COMPACT_AFTER_LINES = 2_000

/** Replays a journal's lines: the entries still waiting for their answer, oldest first, and how many lines were unreadable. */
export const replayJournal = (text: string): { readonly pending: ReadonlyArray<InboxEntry>; readonly unreadable: number } => {
  const live = new Map<string, InboxEntry>()
  let unreadable = 0
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue
    const line = decodeLine(raw)
    // A line cut off by a crash mid-write is the only expected kind: skip it, never guess.
    if (line._tag === "None") {
      unreadable++
      continue
    }
    const event = line.value
    if (event.op === "add") {
      const { attachments, quote, ...fields } = event.entry.message
      live.set(event.entry.key, {
        ...event.entry,
        message: {
          ...fields,
          conversationTitle: fields.conversationTitle,
          senderStaffId: fields.senderStaffId,
          body: fields.body as InboundMessage["body"],
          // Written by this bridge from an `InboundMessage`: read back as such.
          ...(attachments === undefined ? {} : { attachments: attachments as NonNullable<InboundMessage["attachments"]> }),
          ...(quote === undefined ? {} : { quote: quote as NonNullable<InboundMessage["quote"]> }),
        },
      })
    } else if (event.op === "done") live.delete(event.key)
    else {
      const entry = live.get(event.key)
      if (entry !== undefined) live.set(event.key, event.op === "turn" ? { ...entry, turn: event.turn } : { ...entry, sending: true })
    }
  }
  return { pending: [...live.values()].sort((a, b) => a.seq - b.seq), unreadable }
}

/** The journal of unanswered messages. */
export class Inbox extends Context.Service<Inbox, {
  /** Journals a message (right after its ack); returns the hooks its turn calls. */
  readonly record: (message: InboundMessage, text: string, queuedAt: number) => Effect.Effect<TurnJournal>
  /** The hooks a resumed turn calls for a pending entry. */
  readonly journal: (entry: InboxEntry) => TurnJournal
  /** The entries found on start (cut off by a crash), oldest first. */
  readonly pending: ReadonlyArray<InboxEntry>
}>()("dingtalk-mcp-server/Inbox") {
  /** The inbox in `directory`. */
  static readonly layerPersisted = (directory: string) => Layer.effect(Inbox, makeInbox(directory))
}

const makeInbox = (directory: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const file = path.join(directory, JOURNAL_FILE)
    const unusable = (error: unknown) => new StateDirUnusable({ path: directory, detail: error instanceof Error ? error.message : String(error) })

    // Start: replay what a crash left, then rewrite the journal with only that, so it never grows across runs.
    const { pending, unreadable } = yield* Effect.try({
      try: () => {
        fs.mkdirSync(directory, { recursive: true, mode: 0o700 })
        fs.chmodSync(directory, 0o700)
        const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""
        const replayed = replayJournal(text)
        if (replayed.unreadable > 0) fs.copyFileSync(file, `${file}.${Date.now()}.corrupt`)
        const temporary = `${file}.tmp`
        fs.writeFileSync(temporary, replayed.pending.map((entry) => `${JSON.stringify({ op: "add", entry })}\n`).join(""), { mode: 0o600 })
        fs.renameSync(temporary, file)
        return replayed
      },
      catch: unusable,
    })
    if (unreadable > 0) yield* Effect.logWarning(`${unreadable} unreadable inbox line(s) skipped; the journal was kept as .corrupt for a person to look at`).pipe(Effect.annotateLogs({ directory }))
    if (pending.length > 0) yield* Effect.logWarning(`${pending.length} message(s) were not answered before the last stop; resuming them`)

    const live = new Set(pending.map((entry) => entry.key))
    let lines = pending.length
    // Synchronous appends to one open descriptor: a line is in the kernel (it survives a kill of this
    // process) when the call returns, and costs one write call. Async writes went through libuv's
    // thread pool and cost several wake-ups each (measured with strace: the largest per-message cost).
    let fd = yield* Effect.try({ try: () => fs.openSync(file, "a", 0o600), catch: unusable })
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.closeSync(fd)))
    let warned = false

    /** Appends one event; a failed write is reported once and the bridge keeps answering. */
    const append = (event: object) =>
      Effect.suspend(() => {
        try {
          fs.writeSync(fd, `${JSON.stringify(event)}\n`)
          warned = false
          lines++
          // Nothing waits and the journal is long: start a fresh one.
          if (live.size === 0 && lines > COMPACT_AFTER_LINES) {
            const fresh = fs.openSync(file, "w", 0o600)
            fs.closeSync(fd)
            fd = fresh
            lines = 0
          }
          return Effect.void
        } catch (error) {
          if (warned) return Effect.void
          warned = true
          return Effect.logWarning(`Could not write the inbox journal: ${error instanceof Error ? error.message : String(error)}`)
        }
      })

    // Once per entry: a delivery that ends and the turn's own "delivered" may both say so.
    const done = (key: string) => Effect.suspend(() => live.delete(key) ? append({ op: "done", key }) : Effect.void)

    let lastSeq = pending.at(-1)?.seq ?? 0
    const journalOf = (entry: InboxEntry): TurnJournal => ({
      prompting: (sessionId) =>
        Effect.gen(function*() {
          const messageId = ascendingMessageId(yield* Clock.currentTimeMillis)
          yield* append({ op: "turn", key: entry.key, turn: { sessionId, messageId } })
          return messageId
        }),
      sending: (part) => part > 0 ? Effect.void : append({ op: "sending", key: entry.key }),
      // Started at once: the reply leaves without a round trip through the scheduler first.
      deliver: (send) =>
        Effect.forkIn(send.pipe(Effect.onExit((exit) => Exit.hasInterrupts(exit) ? Effect.void : done(entry.key))), scope, { startImmediately: true }).pipe(
          Effect.flatMap(Fiber.join)
        ),
      delivered: done(entry.key),
    })

    const record = (message: InboundMessage, text: string, queuedAt: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        lastSeq = Math.max(lastSeq + 1, now * 1000)
        const entry: InboxEntry = { key: `${message.robotCode}:${message.msgId}`, seq: lastSeq, message, text, queuedAt }
        live.add(entry.key)
        yield* append({ op: "add", entry })
        return journalOf(entry)
      })

    return Inbox.of({ record, journal: journalOf, pending })
  })
