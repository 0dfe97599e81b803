/**
 * The models OpenCode offers and what they accept as input, from `GET /config/providers` and the
 * configured default from `GET /config`, cached briefly so a burst of messages asks OpenCode once.
 * Failed lookups are not cached: the next call asks again.
 */
import { Cache, Context, Duration, Effect, Exit, Layer, Option } from "effect"
import { OpenCodeClient, type OpenCodeRequestFailed, type OpenCodeUnreachable, type ProviderModel } from "./OpenCodeClient.js"

/** One model: its "provider/model" reference and the inputs it accepts. */
export interface ModelInfo {
  /** `providerID/modelID`, the form `GET /config` and `/model` use. */
  readonly ref: string
  readonly providerId: string
  readonly modelId: string
  readonly name: string
  readonly input: {
    readonly text: boolean
    readonly image: boolean
    readonly pdf: boolean
    readonly audio: boolean
    readonly video: boolean
  }
  /** OpenCode lets the model take file attachments. */
  readonly attachment: boolean
  readonly toolcall: boolean
}

type CatalogError = OpenCodeUnreachable | OpenCodeRequestFailed

/** How long an answer of OpenCode is reused: a model added to opencode.json shows up this much later. */
export const CATALOG_TTL = Duration.seconds(30)

const toInfo = (providerId: string, model: ProviderModel): ModelInfo => {
  const input = model.capabilities?.input
  return {
    ref: `${providerId}/${model.id}`,
    providerId,
    modelId: model.id,
    name: model.name ?? model.id,
    input: {
      text: input?.text ?? true,
      image: input?.image ?? false,
      pdf: input?.pdf ?? false,
      audio: input?.audio ?? false,
      video: input?.video ?? false,
    },
    attachment: model.capabilities?.attachment ?? false,
    toolcall: model.capabilities?.toolcall ?? false,
  }
}

/** The models OpenCode offers, their input capabilities and the configured default. */
export class ModelCatalog extends Context.Service<ModelCatalog, {
  /** Every model of every configured provider (the built-in `opencode` provider included). */
  readonly models: Effect.Effect<ReadonlyArray<ModelInfo>, CatalogError>
  /** The configured default model ("provider/model"), when opencode.json sets one. */
  readonly defaultModel: Effect.Effect<Option.Option<string>, CatalogError>
  /** The model with this "provider/model" reference, if OpenCode knows it. */
  readonly find: (modelRef: string) => Effect.Effect<Option.Option<ModelInfo>, CatalogError>
  /** True when the model takes image input; false when it does not, is unknown, or OpenCode cannot say. */
  readonly acceptsImages: (modelRef: string) => Effect.Effect<boolean>
  /** Drops the cached answers (after a config change). */
  readonly refresh: Effect.Effect<void>
}>()("dingtalk-mcp-server/ModelCatalog") {
  /** The catalogue over `OpenCodeClient`. */
  static readonly layer = Layer.effect(
    ModelCatalog,
    Effect.gen(function*() {
      const client = yield* OpenCodeClient
      const ttl = (exit: Exit.Exit<unknown, unknown>) => (Exit.isSuccess(exit) ? CATALOG_TTL : Duration.zero)
      const providers = yield* Cache.makeWith((_: "providers") => client.configProviders, { capacity: 1, timeToLive: ttl })
      const config = yield* Cache.makeWith((_: "config") => client.config, { capacity: 1, timeToLive: ttl })

      const models = Cache.get(providers, "providers").pipe(
        Effect.map((answer) => answer.providers.flatMap((provider) => Object.values(provider.models).map((model) => toInfo(provider.id, model)))),
        Effect.withSpan("ModelCatalog.models")
      )
      const defaultModel = Cache.get(config, "config").pipe(
        Effect.map((answer) => Option.fromUndefinedOr(answer.model).pipe(Option.filter((ref) => ref.includes("/")))),
        Effect.withSpan("ModelCatalog.defaultModel")
      )
      const find = Effect.fn("ModelCatalog.find")(function*(modelRef: string) {
        const all = yield* models
        return Option.fromUndefinedOr(all.find((model) => model.ref === modelRef))
      })
      const acceptsImages = Effect.fn("ModelCatalog.acceptsImages")(function*(modelRef: string) {
        return yield* find(modelRef).pipe(
          Effect.map(Option.match({ onNone: () => false, onSome: (model) => model.input.image })),
          Effect.catch((error) =>
            Effect.logWarning("Could not read the model's capabilities; treating images as files").pipe(
              Effect.annotateLogs({ model: modelRef, error: error.message }),
              Effect.as(false)
            )
          )
        )
      })
      const refresh = Effect.all([Cache.invalidateAll(providers), Cache.invalidateAll(config)], { discard: true })
      return ModelCatalog.of({ models, defaultModel, find, acceptsImages, refresh })
    })
  )

  /** A fixed catalogue for tests. */
  static readonly layerTest = (models: ReadonlyArray<ModelInfo>, defaultModel?: string) =>
    Layer.succeed(ModelCatalog, ModelCatalog.of({
      models: Effect.succeed(models),
      defaultModel: Effect.succeed(Option.fromUndefinedOr(defaultModel)),
      find: (modelRef) => Effect.succeed(Option.fromUndefinedOr(models.find((model) => model.ref === modelRef))),
      acceptsImages: (modelRef) => Effect.succeed(models.some((model) => model.ref === modelRef && model.input.image)),
      refresh: Effect.void,
    }))
}
