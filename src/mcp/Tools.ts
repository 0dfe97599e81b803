/** Every MCP tool the server offers. */
import { approvePairing } from "./ApprovePairing.js"
import { getPerformance } from "./GetPerformance.js"
import { getStats } from "./GetStats.js"
import { listConversations } from "./ListConversations.js"
import { sendMessage } from "./SendMessage.js"
import { sendFile } from "./SendFile.js"

/** The tools, in the order clients list them. */
export const tools = [sendMessage, listConversations, getStats, getPerformance, approvePairing, sendFile] as const
