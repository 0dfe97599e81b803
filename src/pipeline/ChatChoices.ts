/**
 * What each conversation chose from chat: its OpenCode session (`/session <n>`), model (`/model`) and
 * agent (`/agent`). Kept in a small JSON file under the state directory (mode 0600) so the choices
 * survive a restart; written on every change (changes are rare).
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import path from "node:path"

/** A conversation's choices; absent = OpenCode's default. */
export interface ChatChoice {
  readonly sessionId?: string | undefined
  /** `provider/model`. */
  readonly model?: string | undefined
  readonly agent?: string | undefined
}

/** One conversation's choices, as stored (file or database). */
export const ChoiceSchema = Schema.Struct({
  sessionId: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  agent: Schema.optional(Schema.String),
})
const FileSchema = Schema.fromJsonString(Schema.Record(Schema.String, ChoiceSchema))

/** `provider/model` → OpenCode's `{providerID, modelID}` (the model ID may itself contain `/`). */
export const modelRef = (model: string): { readonly providerID: string; readonly modelID: string } | undefined => {
  const slash = model.indexOf("/")
  return slash <= 0 || slash === model.length - 1 ? undefined : { providerID: model.slice(0, slash), modelID: model.slice(slash + 1) }
}

/** The per-conversation choices. */
export class ChatChoices extends Context.Service<ChatChoices, {
  readonly get: (conversationId: string) => Effect.Effect<ChatChoice>
  /** Merges `patch` into the conversation's choices (an `undefined` field clears it). */
  readonly set: (conversationId: string, patch: ChatChoice) => Effect.Effect<void>
  /** Every conversation with a choice. */
  readonly all: Effect.Effect<ReadonlyMap<string, ChatChoice>>
}>()("dingtalk-mcp-server/ChatChoices") {
  /** Choices in memory only. */
  static readonly layer = Layer.sync(ChatChoices, () => ChatChoices.of(makeStore(new Map(), () => Effect.void)))

  /** Choices kept in `file` (read at start, rewritten on each change). */
  static readonly layerPersisted = (file: string) =>
    Layer.effect(
      ChatChoices,
      Effect.gen(function*() {
        const byConversation = new Map<string, ChatChoice>()
        const loaded = yield* Effect.try(() => readFileSync(file, "utf8")).pipe(
          Effect.flatMap((text) => Schema.decodeUnknownEffect(FileSchema)(text)),
          Effect.option
        )
        if (Option.isSome(loaded)) for (const [id, choice] of Object.entries(loaded.value)) byConversation.set(id, choice)
        const save = Effect.try(() => {
          mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
          const temporary = `${file}.${process.pid}.tmp`
          writeFileSync(temporary, JSON.stringify(Object.fromEntries(byConversation)), { mode: 0o600 })
          renameSync(temporary, file)
        }).pipe(Effect.catch((error) => Effect.logWarning(`Could not save chat choices to ${file}: ${String(error.cause)}`)))
        return ChatChoices.of(makeStore(byConversation, () => save))
      })
    )
}

/** `patch` over `previous` (an `undefined` field clears it); `undefined` when nothing is left. */
export const mergeChoice = (previous: ChatChoice | undefined, patch: ChatChoice): ChatChoice | undefined => {
  const merged: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...previous, ...patch })) if (typeof value === "string") merged[key] = value
  return Object.keys(merged).length === 0 ? undefined : merged
}

const makeStore = (byConversation: Map<string, ChatChoice>, saved: () => Effect.Effect<void>): ChatChoices["Service"] => ({
  get: (conversationId) => Effect.sync(() => byConversation.get(conversationId) ?? {}),
  set: (conversationId, patch) =>
    Effect.suspend(() => {
      const merged = mergeChoice(byConversation.get(conversationId), patch)
      if (merged === undefined) byConversation.delete(conversationId)
      else byConversation.set(conversationId, merged)
      return saved()
    }),
  all: Effect.sync(() => new Map(byConversation)),
})
