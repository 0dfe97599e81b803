/**
 * Cluster mode's hand-off point: the pipeline gives a turn to its conversation's entity instead of
 * running it here. Only the service is declared here, so the embedded mode never loads the cluster
 * code; the implementation is `ConversationEntity.ts`, loaded with the cluster layer.
 */
import { Context, type Effect } from "effect"
import type { InboundMessage } from "../dingtalk/RobotMessage.js"

/** Hands a turn to its conversation's entity, wherever that runs. */
export class ClusterTurns extends Context.Service<ClusterTurns, {
  readonly submit: (message: InboundMessage, text: string, queuedAt: number) => Effect.Effect<void>
}>()("dingtalk-mcp-server/ClusterTurns") {}
