/**
 * The bridge's services wired together: everything except configuration and logging, which the
 * caller provides (the CLI from the environment, an embedding app or a test from its own layers).
 */
import { Effect, Layer, Option } from "effect"
import { Bridge } from "../pipeline/Bridge.js"
import { AccessPolicy, accessFileFor } from "../dingtalk/AccessPolicy.js"
import { AccessToken } from "../dingtalk/AccessToken.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { Conversations } from "../dingtalk/Conversations.js"
import { DingTalkHttp } from "../dingtalk/DingTalkHttp.js"
import { DingTalkStream } from "../dingtalk/DingTalkStream.js"
import { Delivery } from "../dingtalk/Delivery.js"
import { SendLimiter } from "../dingtalk/SendLimiter.js"
import { Cards } from "../dingtalk/Cards.js"
import { CardLimiter } from "../dingtalk/CardLimiter.js"
import { OpenCodeClient } from "../opencode/OpenCodeClient.js"
import { OpenCodeEvents } from "../opencode/OpenCodeEvents.js"
import { statePathFor } from "../core/StateDir.js"
import { BridgeConfig, type BridgeSettings } from "../core/BridgeConfig.js"
import { Sessions } from "../opencode/Sessions.js"
import { Inbox } from "../pipeline/Inbox.js"
import { ModelCatalog } from "../opencode/ModelCatalog.js"
import { Messages } from "../core/Messages.js"
import type { ClusterBridgeLayer } from "./ClusterLayer.js"
import type { ToolServices } from "../mcp/McpServer.js"
import { ProjectFolders } from "../opencode/ProjectFolders.js"
import { MediaDownload } from "../dingtalk/MediaDownload.js"
import { MediaUpload } from "../dingtalk/MediaUpload.js"
import { ActionCards } from "../dingtalk/ActionCards.js"
import { ChatChoices } from "../pipeline/ChatChoices.js"
import { ChatSettings } from "../pipeline/ChatSettings.js"
import { Interactions } from "../pipeline/Interactions.js"

/** Metrics, chat texts, conversations, access policy, HTTP pool, token, delivery, cards, OpenCode client, sessions and the DingTalk connection. */
export const makeServicesLayer = <E, R = never, RL = BridgeConfig, RA = BridgeConfig>(
  conversations: Layer.Layer<Conversations, E, R>,
  access: Layer.Layer<AccessPolicy, never, RA> = AccessPolicy.layer as Layer.Layer<AccessPolicy, never, any>,
  limiter: Layer.Layer<SendLimiter, never, RL> = SendLimiter.layer as Layer.Layer<SendLimiter, never, any>,
  stream: Layer.Layer<DingTalkStream, never, BridgeConfig | DingTalkHttp> = DingTalkStream.layer
) =>
  Layer.mergeAll(Delivery.layer, Sessions.layer, stream, ModelCatalog.layer, Cards.layer, ProjectFolders.layer, MediaDownload.layer, MediaUpload.layer).pipe(
    Layer.provideMerge(Layer.mergeAll(AccessToken.layer, OpenCodeClient.layer, OpenCodeEvents.layer, CardLimiter.layer)),
    Layer.provideMerge(Layer.mergeAll(DingTalkHttp.layer, conversations, access, limiter)),
    Layer.provideMerge(Layer.mergeAll(BridgeMetrics.layer, Messages.layer))
  )

/** Permission requests and questions answered from chat, and the per-chat session/model/agent choices. */
export const makeInteractiveLayer = <R = never>(choices: Layer.Layer<ChatChoices, never, R>) =>
  Layer.mergeAll(Interactions.layer, ChatSettings.layer).pipe(Layer.provideMerge(Layer.mergeAll(choices, ActionCards.layer)))

/** Every service, with conversations and pairings kept in memory (requires `BridgeConfig`). */
export const ServicesLayer = makeServicesLayer(Conversations.layer)

/** The pipeline plus every service it needs, conversations in memory (requires `BridgeConfig`). */
export const BridgeLayer = Bridge.layer.pipe(Layer.provideMerge(makeInteractiveLayer(ChatChoices.layer)), Layer.provideMerge(ServicesLayer))

/**
 * The same, with the conversations, pairings and the durable inbox kept under `BRIDGE_STATE_DIR` so they
 * survive a restart (and `dingtalk-mcp-server pair` can approve codes).
 */
const EmbeddedBridgeLayer = (settings: BridgeSettings) =>
  Bridge.layer.pipe(
    Layer.provideMerge(makeInteractiveLayer(ChatChoices.layerPersisted(statePathFor(settings.instance.stateDir, settings.dingtalk.clientId, ".choices.json")))),
    Layer.provideMerge(makeServicesLayer(
      Conversations.layerPersisted(statePathFor(settings.instance.stateDir, settings.dingtalk.clientId, ".conversations"), {
        legacyFile: statePathFor(settings.instance.stateDir, settings.dingtalk.clientId, ".conversations.json"),
      }),
      AccessPolicy.layerPersisted(accessFileFor(settings.instance.stateDir, settings.dingtalk.clientId))
    )),
    // Read before the DingTalk connection opens.
    Layer.provideMerge(Inbox.layerPersisted(statePathFor(settings.instance.stateDir, settings.dingtalk.clientId, ".inbox")))
  )

type PersistentLayer = Layer.Layer<
  Bridge | ToolServices,
  Layer.Error<ReturnType<typeof EmbeddedBridgeLayer>> | Layer.Error<ReturnType<typeof ClusterBridgeLayer>>,
  BridgeConfig
>

/** What the CLI runs: the embedded layer above, or a cluster runner when `BRIDGE_DATABASE_URL` is set. */
export const PersistentBridgeLayer: PersistentLayer = Layer.unwrap(BridgeConfig.use((settings) => {
  const databaseUrl = settings.cluster.databaseUrl
  return Option.isSome(databaseUrl)
    // Loaded only in cluster mode: the cluster, RPC and PostgreSQL code is a fifth of the bundle.
    ? Effect.promise(() => import("./ClusterLayer.js")).pipe(Effect.map((cluster): PersistentLayer =>
      settings.cluster.role === "client"
        ? cluster.ClusterClientLayer(settings, databaseUrl.value)
        : cluster.ClusterBridgeLayer(settings, databaseUrl.value)
    ))
    : Effect.succeed<PersistentLayer>(EmbeddedBridgeLayer(settings))
}))
