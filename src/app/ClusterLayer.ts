/**
 * Cluster mode (`BRIDGE_DATABASE_URL` set): this instance is an Effect Cluster runner on PostgreSQL. It
 * keeps its own DingTalk connection and hands each push to its conversation's entity; the conversation
 * registry and the reply budget live in the database, so every instance sees every conversation and
 * the robot has one budget. No local inbox: the cluster's message table is the journal.
 */
import { NodeClusterSocket } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Option, type Redacted } from "effect"
import { RunnerAddress } from "effect/cluster"
import type { BridgeSettings } from "../core/BridgeConfig.js"
import { AccessPolicy } from "../dingtalk/AccessPolicy.js"
import { sqlAccessStore } from "../dingtalk/AccessStoreSql.js"
import { layerConversationsSql } from "../dingtalk/ConversationsSql.js"
import { DingTalkStream } from "../dingtalk/DingTalkStream.js"
import { layerSendLimiterSql } from "../dingtalk/SendLimiterSql.js"
import { Bridge } from "../pipeline/Bridge.js"
import { AnswersEntityLive, ConversationOwnersLive } from "../pipeline/ConversationAnswers.js"
import { ClusterTurnsLive, ConversationEntityLive } from "../pipeline/ConversationEntity.js"
import { makeInteractiveLayer, makeServicesLayer } from "./BridgeLayer.js"
import { ClusterRetentionLive } from "./ClusterRetention.js"
import { layerChatChoicesSql } from "../pipeline/ChatChoicesSql.js"

/** Pairings in the database: approved once, let in by every runner. */
const accessSql = (settings: BridgeSettings) =>
  Layer.unwrap(sqlAccessStore(settings.dingtalk.clientId).pipe(Effect.map(AccessPolicy.layerWith)))

/**
 * An MCP-only member (`BRIDGE_CLUSTER_ROLE=client`), e.g. launched by OpenCode on a host without a runner:
 * no DingTalk connection and no conversations hosted; its tools read the shared registry and send within
 * the robot's shared budget. Its pipeline never receives a message, so it never runs a turn.
 */
export const ClusterClientLayer = (settings: BridgeSettings, url: Redacted.Redacted<string>) =>
  Layer.succeed(Bridge, Bridge.of({ run: Effect.never })).pipe(
    Layer.provideMerge(makeServicesLayer(
      layerConversationsSql,
      accessSql(settings),
      layerSendLimiterSql({ limit: settings.delivery.rateLimit, windowMs: settings.delivery.rateWindowMs }),
      DingTalkStream.layerNone
    )),
    Layer.provideMerge(PgClient.layer({ url, maxConnections: 2 }))
  )

/** The bridge as a cluster runner on the database at `url`. */
export const ClusterBridgeLayer = (settings: BridgeSettings, url: Redacted.Redacted<string>) => {
  const { runnerHost, runnerPort, shardLockExpirationMs } = settings.cluster
  const runner = NodeClusterSocket.layer({
    storage: "sql",
    shardingConfig: {
      runnerAddress: Option.some(RunnerAddress.make(runnerHost, runnerPort)),
      shardLockExpiration: Duration.millis(shardLockExpirationMs),
      shardLockRefreshInterval: Duration.millis(Math.max(500, Math.floor(shardLockExpirationMs / 3.5))),
    },
  })
  const services = makeServicesLayer(
    layerConversationsSql,
    accessSql(settings),
    layerSendLimiterSql({ limit: settings.delivery.rateLimit, windowMs: settings.delivery.rateWindowMs })
  )
  return Bridge.layer.pipe(
    Layer.provideMerge(ClusterTurnsLive),
    Layer.provideMerge(ConversationEntityLive),
    Layer.provideMerge(ClusterRetentionLive),
    Layer.provideMerge(AnswersEntityLive),
    // The agent's requests are posted and answered by the runner that owns their conversation; chat
    // choices are in the database, whichever runner the command reached.
    Layer.provideMerge(makeInteractiveLayer(layerChatChoicesSql)),
    Layer.provideMerge(ConversationOwnersLive),
    Layer.provideMerge(services),
    Layer.provideMerge(runner),
    Layer.provideMerge(PgClient.layer({ url, maxConnections: 10 }))
  )
}
