/**
 * dingtalk-mcp-server as a library: the pipeline and its services as Layers, the MCP server, and the
 * pieces they are made of, for other Effect apps to embed.
 */
export { BridgeConfig, BridgeConfigSchema, type BridgeSettings } from "./core/BridgeConfig.js"
export { BridgeLayer, PersistentBridgeLayer, ServicesLayer } from "./app/BridgeLayer.js"
export { Bridge } from "./pipeline/Bridge.js"
export { AccessToken, AccessTokenFailed } from "./dingtalk/AccessToken.js"
export { type AccessDecision, AccessPolicy, PairingCodeUnknown } from "./dingtalk/AccessPolicy.js"
export { BridgeMetrics, type MetricsSnapshot } from "./core/BridgeMetrics.js"
export { type Conversation, Conversations } from "./dingtalk/Conversations.js"
export { Delivery, DeliveryFailed, type DeliveryReceipt, type SendRequest, UnknownConversation } from "./dingtalk/Delivery.js"
export { DingTalkHttp, DingTalkUnreachable } from "./dingtalk/DingTalkHttp.js"
export { SendLimiter, type SendLimits } from "./dingtalk/SendLimiter.js"
export { type CallbackFrame, type ConnectionStatus, CredentialsRejected, DingTalkStream, ReconnectExhausted } from "./dingtalk/DingTalkStream.js"
export * as Logging from "./core/Logging.js"
export { makeMcpServer, McpStdio } from "./mcp/McpServer.js"
export { OpenCodeClient, OpenCodeRequestFailed, OpenCodeUnreachable, TurnFailed, TurnTimedOut } from "./opencode/OpenCodeClient.js"
export { Sessions, sessionTitle } from "./opencode/Sessions.js"
export { type InboundMessage, RobotMessage } from "./dingtalk/RobotMessage.js"
export { reconnectSchedule, superviseConnection } from "./dingtalk/Reconnect.js"
export { tools } from "./mcp/Tools.js"
