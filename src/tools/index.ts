/** Every MCP tool the server offers. */
import { getPerformance } from "./getPerformance.js"
import { getStats } from "./getStats.js"
import { listConversations } from "./listConversations.js"
import { sendMessage } from "./sendMessage.js"

/** The tools, in the order clients list them. */
export const tools = [sendMessage, listConversations, getStats, getPerformance] as const
