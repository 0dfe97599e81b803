/**
 * The bridge's services wired together: everything except configuration and logging, which the
 * caller provides (the CLI from the environment, an embedding app or a test from its own layers).
 */
import { Layer } from "effect"
import { RateLimiter } from "effect/persistence"
import { Bridge } from "../pipeline/Bridge.js"
import { AccessToken } from "./AccessToken.js"
import { BridgeMetrics } from "./BridgeMetrics.js"
import { Conversations } from "./Conversations.js"
import { DingTalkHttp } from "./DingTalkHttp.js"
import { DingTalkStream } from "./DingTalkStream.js"
import { Delivery } from "./Delivery.js"
import { OpenCodeClient } from "./OpenCodeClient.js"
import { Sessions } from "./Sessions.js"

const RateLimiterLive = RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreMemory))

/** Metrics, conversations, HTTP pool, token, delivery, OpenCode client, sessions and the DingTalk connection. */
export const ServicesLayer = Layer.mergeAll(Delivery.layer, Sessions.layer, DingTalkStream.layer).pipe(
  Layer.provideMerge(Layer.mergeAll(AccessToken.layer, OpenCodeClient.layer)),
  Layer.provideMerge(Layer.mergeAll(DingTalkHttp.layer, Conversations.layer, RateLimiterLive)),
  Layer.provideMerge(BridgeMetrics.layer)
)

/** The pipeline plus every service it needs (requires `BridgeConfig`). */
export const BridgeLayer = Bridge.layer.pipe(Layer.provideMerge(ServicesLayer))
