/**
 * The conversations the robot has seen: where to reply (the freshest `sessionWebhook`) and who is
 * in them. `dingtalk_send_message` and `dingtalk_list_conversations` read this; the pipeline writes it.
 */
import { Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import { readFileSync } from "node:fs"
import { mkdir, rename, writeFile } from "node:fs/promises"
import path from "node:path"
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
const MAX_CONVERSATIONS = 10_000

/** The registry of known conversations. */
export class Conversations extends Context.Service<Conversations, {
  readonly remember: (message: InboundMessage) => Effect.Effect<Conversation>
  readonly get: (conversationId: string) => Effect.Effect<Option.Option<Conversation>>
  /** Most recently active first. */
  readonly list: Effect.Effect<ReadonlyArray<Conversation>>
}>()("dingtalk-mcp-server/Conversations") {
  /** An in-memory registry. */
  static readonly layer = Layer.sync(Conversations, () => Conversations.of(makeRegistry(new Map(), () => undefined)))

  /**
   * A registry kept in `file` (mode 0600: webhook URLs are credentials), so that after a restart the agent
   * can still write to the conversations it knew. Written at most once a second, and on shutdown.
   */
  static readonly layerPersisted = (file: string) =>
    Layer.effect(
      Conversations,
      Effect.gen(function*() {
        const byId = new Map<string, Conversation>()
        const loaded = yield* Effect.try(() => readFileSync(file, "utf8")).pipe(
          Effect.flatMap((text) => Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Array(ConversationSchema)))(text)),
          Effect.option
        )
        if (Option.isSome(loaded)) {
          // JSON drops undefined fields; the registry keeps them explicit.
          for (const c of loaded.value) byId.set(c.id, { ...c, title: c.title, lastSenderStaffId: c.lastSenderStaffId })
        }
        if (byId.size > 0) yield* Effect.logInfo(`Remembered ${byId.size} conversation(s) from ${file}`)
        // Asynchronous file calls: a save must not stall the messages arriving meanwhile.
        const save = Effect.tryPromise(async () => {
          await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
          const temporary = `${file}.${process.pid}.tmp`
          await writeFile(temporary, JSON.stringify([...byId.values()]), { mode: 0o600 })
          await rename(temporary, file)
        }).pipe(Effect.catch((error) => Effect.logWarning(`Could not save conversations to ${file}: ${String(error.cause)}`)))
        let dirty = false
        yield* Effect.forkScoped(Effect.suspend(() => (dirty ? ((dirty = false), save) : Effect.void)).pipe(Effect.repeat(Schedule.spaced("1 second"))))
        yield* Effect.addFinalizer(() => Effect.suspend(() => (dirty ? save : Effect.void)))
        return Conversations.of(makeRegistry(byId, () => {
          dirty = true
        }))
      })
    )
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

/** The registry over a Map; `changed` is told after every update. */
const makeRegistry = (byId: Map<string, Conversation>, changed: () => void): Conversations["Service"] => ({
  remember: (message) =>
    Effect.sync(() => {
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
      if (byId.size > MAX_CONVERSATIONS) byId.delete(byId.keys().next().value!)
      changed()
      return conversation
    }),
  get: (conversationId) => Effect.sync(() => Option.fromUndefinedOr(byId.get(conversationId))),
  list: Effect.sync(() => [...byId.values()].reverse()),
})
