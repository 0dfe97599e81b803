/**
 * dingtalk-mcp-server as a library: the pipeline and its services as Layers, the MCP server, and the
 * pieces they are made of, for other Effect apps to embed.
 */
export { BridgeConfig, BridgeConfigSchema, type BridgeSettings } from "./layers/BridgeConfig.js"
export { BridgeLayer, PersistentBridgeLayer, ServicesLayer } from "./layers/index.js"
export { Bridge } from "./pipeline/Bridge.js"
export { AccessToken, AccessTokenFailed } from "./layers/AccessToken.js"
export { BridgeMetrics, type MetricsSnapshot } from "./layers/BridgeMetrics.js"
export { type Conversation, Conversations } from "./layers/Conversations.js"
export { Delivery, DeliveryFailed, type DeliveryReceipt, type SendRequest, UnknownConversation } from "./layers/Delivery.js"
export { DingTalkHttp, DingTalkUnreachable } from "./layers/DingTalkHttp.js"
export { type CallbackFrame, type ConnectionStatus, CredentialsRejected, DingTalkStream, ReconnectExhausted } from "./layers/DingTalkStream.js"
export * as Logging from "./layers/Logging.js"
export { makeMcpServer, McpStdio } from "./layers/McpServer.js"
export { OpenCodeClient, OpenCodeRequestFailed, OpenCodeUnreachable, TurnFailed, TurnTimedOut } from "./layers/OpenCodeClient.js"
export { Sessions, sessionTitle } from "./layers/Sessions.js"
export { type InboundMessage, RobotMessage } from "./dingtalk/RobotMessage.js"
export { reconnectSchedule, superviseConnection } from "./dingtalk/reconnect.js"
export { tools } from "./tools/index.js"
