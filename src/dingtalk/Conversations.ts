/**
 * The conversations the robot has seen: where to reply (the freshest `sessionWebhook`) and who is
 * in them. `dingtalk_send_message` and `dingtalk_list_conversations` read this; the pipeline writes it.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { Context, Duration, Effect, FileSystem, Latch, Layer, Option, Path, Schema } from "effect"
import { KeyValueStore } from "effect/persistence"
import type { InboundMessage } from "./RobotMessage.js"

/** A conversation as last seen. */
export interface Conversation {
  readonly id: string
  readonly robotCode: string
  readonly type: "single" | "group"
  readonly title: string | undefined
  /** Staff (or user) ID of the last sender: the target of 1:1 OpenAPI sends. */
  readonly lastSenderKey: string
  readonly lastSenderStaffId: string | undefined
  readonly lastSenderNick: string
  readonly lastActivity: number
  readonly messageCount: number
  readonly webhook: string
  readonly webhookExpiresAt: number
}

/** How many conversations are kept; the least recently active ones go first. */
export const MAX_CONVERSATIONS = 10_000

/** The state directory cannot be used (not creatable, not writable, not readable). */
export class StateDirUnusable extends Schema.TaggedError<StateDirUnusable>()("StateDirUnusable", {
  path: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return `The state directory ${this.path} cannot be used (${this.detail}). Fix its permissions or set BRIDGE_STATE_DIR to a writable directory.`
  }
}

/** The registry of known conversations. */
export class Conversations extends Context.Service<Conversations, {
  readonly remember: (message: InboundMessage) => Effect.Effect<Conversation>
  readonly get: (conversationId: string) => Effect.Effect<Option.Option<Conversation>>
  /** Most recently active first. */
  readonly list: Effect.Effect<ReadonlyArray<Conversation>>
}>()("dingtalk-mcp-server/Conversations") {
  /** An in-memory registry. */
  static readonly layer = Layer.sync(Conversations, () => Conversations.of(makeRegistry(new Map(), () => Effect.void, () => Effect.void)))

  /**
   * A registry kept in `directory`, one file per conversation (a `KeyValueStore` on the file system),
   * so that after a restart the agent can still write to the conversations it knew. The directory is
   * 0700 and each file 0600: webhook URLs are credentials. An unreadable entry is moved aside as
   * `<file>.corrupt` with a warning; only the newest `MAX_CONVERSATIONS` are loaded (the rest are removed).
   */
  static readonly layerPersisted = (directory: string, options: { readonly maxConversations?: number; readonly legacyFile?: string } = {}) =>
    Layer.effect(Conversations, makePersisted(directory, options.maxConversations ?? MAX_CONVERSATIONS, options.legacyFile)).pipe(
      Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))
    )
}

const makePersisted = (directory: string, cap: number, legacyFile: string | undefined) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const unusable = (error: { readonly message: string }) => new StateDirUnusable({ path: directory, detail: error.message })
    // The store would create the directory world-readable (0755): create it ourselves, then tighten it.
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(Effect.andThen(fs.chmod(directory, 0o700)), Effect.mapError(unusable))
    const store = yield* Layer.build(KeyValueStore.layerFileSystem(directory)).pipe(
      Effect.map(Context.get(KeyValueStore.KeyValueStore)),
      Effect.mapError(unusable)
    )
    const fileOf = (key: string) => paths.join(directory, encodeURIComponent(key))
    if (legacyFile !== undefined) yield* importLegacy(legacyFile, store, fileOf)

    const loaded: Array<Conversation> = []
    const files = yield* fs.readDirectory(directory).pipe(Effect.mapError(unusable))
    for (const file of files) {
      if (file.endsWith(".corrupt") || file.endsWith(".tmp")) continue
      const key = safeDecode(file)
      const text = yield* store.get(key).pipe(Effect.mapError(unusable))
      if (text === undefined) continue
      const decoded = decodeConversation(text)
      if (decoded._tag === "Some" && decoded.value.id === key) {
        // JSON drops undefined fields; the registry keeps them explicit.
        loaded.push({ ...decoded.value, title: decoded.value.title, lastSenderStaffId: decoded.value.lastSenderStaffId })
      } else {
        yield* fs.rename(paths.join(directory, file), paths.join(directory, `${file}.corrupt`)).pipe(Effect.ignore)
        yield* Effect.logWarning(`Unreadable conversation entry moved aside to ${file}.corrupt`).pipe(Effect.annotateLogs({ directory }))
      }
    }
    loaded.sort((a, b) => a.lastActivity - b.lastActivity)
    const dropped = loaded.splice(0, Math.max(0, loaded.length - cap))
    for (const conversation of dropped) yield* store.remove(conversation.id).pipe(Effect.ignore)
    if (dropped.length > 0) yield* Effect.logWarning(`Dropped the ${dropped.length} least recently active conversation(s): at most ${cap} are kept`)
    const byId = new Map(loaded.map((c) => [c.id, c]))
    if (byId.size > 0) yield* Effect.logInfo(`Remembered ${byId.size} conversation(s) from ${directory}`)

    const warn = (what: string) => (error: { readonly message: string }) =>
      Effect.logWarning(`Could not ${what} a conversation in ${directory}: ${error.message}`)
    const save = (conversation: Conversation) =>
      store.set(conversation.id, JSON.stringify(conversation)).pipe(
        Effect.andThen(fs.chmod(fileOf(conversation.id), 0o600)),
        Effect.catch(warn("save"))
      )
    const remove = (conversationId: string) => store.remove(conversationId).pipe(Effect.catch(warn("remove")))
    // Written behind: a message must not wait for the disk on its way to OpenCode. Only the newest state
    // of each conversation is written. A material change (a new conversation, its title or last sender,
    // a stored reply webhook that would soon expire) is written at once; the rest (activity time, count,
    // a fresh webhook while the stored one is still good) every minute and on shutdown, so a steady chat
    // costs no file calls per message (strace showed four per message).
    const pending = new Map<string, Conversation | "removed">()
    /** What the disk holds (as far as this process wrote it). */
    const stored = new Map<string, Conversation>(byId)
    const wake = Latch.makeUnsafe(false)
    const flush = Effect.suspend(() => {
      const batch = [...pending]
      pending.clear()
      for (const [id, change] of batch) if (change !== "removed") stored.set(id, change)
      return Effect.forEach(batch, ([id, change]) => (change === "removed" ? remove(id) : save(change)), { discard: true })
    })
    yield* Effect.forkScoped(Effect.forever(wake.await.pipe(Effect.andThen(wake.close), Effect.andThen(Effect.uninterruptible(flush)))))
    yield* Effect.forkScoped(Effect.forever(Effect.sleep(IMMATERIAL_FLUSH).pipe(Effect.andThen(wake.open))))
    yield* Effect.addFinalizer(() => flush)
    const later = (id: string, change: Conversation | "removed") =>
      Effect.sync(() => {
        pending.delete(id)
        pending.set(id, change)
        if (change === "removed") stored.delete(id)
        else if (!isMaterial(stored.get(id), change)) return
        wake.openUnsafe()
      })
    return Conversations.of(makeRegistry(byId, (conversation) => later(conversation.id, conversation), (id) => later(id, "removed"), cap))
  })

/** Immaterial changes are written this often (a crash loses at most this much activity bookkeeping). */
const IMMATERIAL_FLUSH = Duration.minutes(1)
/** A stored webhook with less time left than this is replaced on disk at once. */
const WEBHOOK_MARGIN_MS = 30 * 60_000

/** Whether `next` must reach the disk now: what `dingtalk_send_message` needs after a crash changed. */
const isMaterial = (stored: Conversation | undefined, next: Conversation): boolean =>
  stored === undefined ||
  stored.title !== next.title ||
  stored.type !== next.type ||
  // The last sender is where a 1:1 chat's OpenAPI sends go; in a group it changes all the time and is not used so.
  (next.type === "single" && (stored.lastSenderKey !== next.lastSenderKey || stored.lastSenderStaffId !== next.lastSenderStaffId)) ||
  stored.robotCode !== next.robotCode ||
  (stored.webhook !== next.webhook && stored.webhookExpiresAt - next.lastActivity < WEBHOOK_MARGIN_MS)

/** Moves the entries of the single JSON file earlier versions wrote into the store, once. */
const importLegacy = (file: string, store: KeyValueStore.KeyValueStore, fileOf: (key: string) => string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (!(yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false)))) return
    const text = yield* fs.readFileString(file).pipe(Effect.orElseSucceed(() => ""))
    const entries = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Array(ConversationSchema)))(text)
    if (entries._tag === "None") {
      yield* fs.rename(file, `${file}.corrupt`).pipe(Effect.ignore)
      return yield* Effect.logWarning(`Unreadable conversations file moved aside to ${file}.corrupt`)
    }
    for (const c of entries.value) {
      if (yield* store.has(c.id).pipe(Effect.orElseSucceed(() => true))) continue
      yield* store.set(c.id, JSON.stringify(c)).pipe(Effect.andThen(fs.chmod(fileOf(c.id), 0o600)), Effect.ignore)
    }
    yield* fs.rename(file, `${file}.migrated`).pipe(Effect.ignore)
    yield* Effect.logInfo(`Moved ${entries.value.length} conversation(s) from ${file} into the state directory`)
  })

const safeDecode = (file: string): string => {
  try {
    return decodeURIComponent(file)
  } catch {
    return file
  }
}

const ConversationSchema = Schema.Struct({
  id: Schema.String,
  robotCode: Schema.String,
  type: Schema.Literals(["single", "group"]),
  title: Schema.optionalKey(Schema.String),
  lastSenderKey: Schema.String,
  lastSenderStaffId: Schema.optionalKey(Schema.String),
  lastSenderNick: Schema.String,
  lastActivity: Schema.Number,
  messageCount: Schema.Number,
  webhook: Schema.String,
  webhookExpiresAt: Schema.Number,
})

const decodeConversation = Schema.decodeUnknownOption(Schema.fromJsonString(ConversationSchema))

/** The registry over a Map; `saved` is told after every update, `removed` after every eviction. */
const makeRegistry = (
  byId: Map<string, Conversation>,
  saved: (conversation: Conversation) => Effect.Effect<void>,
  removed: (conversationId: string) => Effect.Effect<void>,
  cap = MAX_CONVERSATIONS
): Conversations["Service"] => ({
  remember: (message) =>
    Effect.suspend(() => {
      const previous = byId.get(message.conversationId)
      const conversation: Conversation = {
        id: message.conversationId,
        robotCode: message.robotCode,
        type: message.conversationType,
        title: message.conversationTitle ?? previous?.title,
        lastSenderKey: message.senderKey,
        lastSenderStaffId: message.senderStaffId,
        lastSenderNick: message.senderNick,
        lastActivity: message.receivedAt,
        messageCount: (previous?.messageCount ?? 0) + 1,
        webhook: message.webhook,
        webhookExpiresAt: message.webhookExpiresAt,
      }
      // A Map keeps insertion order: re-inserting on activity makes it an LRU.
      byId.delete(message.conversationId)
      byId.set(message.conversationId, conversation)
      const evicted = byId.size > cap ? byId.keys().next().value! : undefined
      if (evicted !== undefined) byId.delete(evicted)
      return saved(conversation).pipe(
        Effect.andThen(evicted === undefined ? Effect.void : removed(evicted)),
        Effect.as(conversation)
      )
    }),
  get: (conversationId) => Effect.sync(() => Option.fromUndefinedOr(byId.get(conversationId))),
  list: Effect.sync(() => [...byId.values()].reverse()),
})
