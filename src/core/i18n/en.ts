/**
 * English chat texts. The keys and `{placeholders}` here are the catalogue's: every other language
 * has the same keys with the same placeholders (test/core/Messages.test.ts checks it).
 */
export const en = {
  // /help, also the answer to an empty message
  // (One literal per text, so the compiler knows its placeholders: multi-line texts are template literals.)
  "help.text": `I forward your messages to an OpenCode coding agent and reply with its answer.

- \`/new\` start a fresh OpenCode session for this chat
- \`/stop\` stop the running answer
- \`/status\` show the session, the queue and the connection
- \`/help\` this text
- \`/pair CODE\` (admins) approve a sender's pairing code

I read {types} messages.`,

  // /status
  "status.title": "Status",
  "status.session": "**Session:** {session}",
  "status.noSession": "none yet",
  "status.thisChat": "**This chat:** {state}, {waiting} waiting",
  "status.answering": "answering",
  "status.idle": "idle",
  "status.allChats": "**All chats:** {running} running, {waiting} waiting",
  "status.dingtalk": "**DingTalk:** {state}",
  "status.opencode": "**OpenCode:** {state}",
  "status.reachable": "reachable",
  "status.unreachable": "not reachable",
  "connection.connecting": "connecting",
  "connection.connected": "connected",
  "connection.backoff": "reconnecting",
  "connection.failed": "failed",
  "connection.stopped": "stopped",

  // /stop and /new
  "stop.nothingRunning": "Nothing is running in this chat.",
  "stop.failed": "Could not stop the turn: OpenCode did not respond. The operator can see details in the logs.",
  "new.started": "Started a new OpenCode session ({session}).",
  "new.failed": "Could not start a new session: OpenCode is not reachable right now. The operator can see details in the logs.",

  // Messages the bridge does not forward
  "input.unsupported": "I cannot read {msgtype} messages yet. Send text, a picture, a file, a video or a voice message.",
  "input.malformed": "I could not read that {msgtype} message: {reason}. Please send it again.",
  "malformed.pictureWithoutCode": "a picture in it came without a download code",
  "malformed.noTranscriptionNorCode": "it has neither DingTalk's transcription nor a download code",
  "malformed.noDownloadCode": "it came without a download code",
  "input.tooLong": "That message is {bytes} bytes; the limit is {limit}. Send a shorter one.",
  "input.busy": "I am busy with {waiting} waiting messages; please send this again in a minute.",

  // A turn's answer, or why there is none
  "turn.stopped": "⏹ Stopped.",
  "turn.emptyAnswer": "(OpenCode finished without a text answer.)",
  "turn.failedPrefix": "⚠️ {reason}",
  "error.opencodeUnreachable": "OpenCode is not reachable right now; the operator can see details in the logs.",
  "error.opencodeRefusedCredentials": "OpenCode refused the bridge's credentials; the operator can see details in the logs.",
  "error.opencodeRequestFailed": "OpenCode could not handle this request; the operator can see details in the logs.",
  "error.turnTimedOut": "OpenCode did not finish within {seconds} s; the turn was stopped.",
  "error.turnFailed": "The agent stopped with an error ({name}); the operator can see details in the logs.",
  "error.sessionNotFound": "The OpenCode session of this chat no longer exists; send your message again to start a new one.",

  // Attachments that could not be saved, and a turn shown as it runs (AI card or progress message)
  "attachment.tooLarge": "{file} is {size}, over the {limit} limit for attachments, so it was not saved. Send a smaller file, or ask the operator to raise BRIDGE_MAX_ATTACHMENT_BYTES.",
  "attachment.tooLargeUnknownSize": "{file} is larger than the {limit} limit for attachments, so it was not saved. Send a smaller file, or ask the operator to raise BRIDGE_MAX_ATTACHMENT_BYTES.",
  "attachment.notFetched": "Could not fetch {file} from DingTalk (the link may have expired); please send it again.",
  "attachment.folderUnusableOne": "The attachment could not be saved: the agent's project folder is not available right now (the operator can see why in the logs).",
  "attachment.folderUnusableMany": "The attachments could not be saved: the agent's project folder is not available right now (the operator can see why in the logs).",
  "attachment.restSent": "The rest of your message went to the agent.",
  "live.continued": "*(continued below)*",
  "live.retrying": "⏳ OpenCode is retrying: {reason}",
  "live.stillWorking": "⏳ Still working ({seconds} s).",
  "live.currentStep": "Current step: {step}",
  "live.interrupted": "⚠️ Interrupted: the bridge is restarting. Send your message again.",

  // Access: refusals, pairing, admin commands
  "access.denied": "Sorry, this robot is not open to you. Ask its operator to give you access.",
  "access.pairingCode": `This robot answers only people its operator approved. Your pairing code is {code} (valid for {minutes} min).
Send it to the operator; they approve it with: dingtalk-mcp-server pair {code}`,
  "access.approvedNotice": "You are approved: send your message again and I will answer it.",
  "access.adminOnly": "Only the robot's admins (DINGTALK_ADMINS) can do that.",
  "pair.usage": "Usage: /pair CODE (the code the robot gave the person who wants access).",
  "pair.approved": "Approved {name}: their next message will be answered.",
  "pair.unknownCode": "Unknown or expired pairing code \"{code}\". Codes are valid for 1 hour: ask the sender to write to the robot again for a new one.",
  "pair.notSaved": "The approval could not be saved; the operator can see details in the logs.",

  // The sandbox chat page
  "page.title": "DingTalk bridge sandbox",
  "page.heading": "DingTalk sandbox",
  "page.newChat": "New 1:1",
  "page.newGroup": "New group",
  "page.chat": "Chat",
  "page.yourName": "Your name",
  "page.defaultSender": "Sandbox user",
  "page.messagePlaceholder": "Message the robot (try /help)",
  "page.message": "Message",
  "page.send": "Send",
  "page.bridge": "Bridge",
  "page.note": "Replies arrive as DingTalk would show them: long answers in numbered parts, and at most the configured number of replies per minute (later ones wait; the time of each part shows it).",
  "page.group": "group",
  "page.oneOnOne": "1:1",
  "page.groupSuffix": " (group, you @mention the robot)",
  "page.oneOnOneSuffix": " (1:1 with the robot)",
  "page.robot": "Robot",
  "page.via": "via {route}",
  "page.statDingTalk": "DingTalk",
  "page.statQueue": "Queue",
  "page.statQueueValue": "{waiting} waiting, {running} running",
  "page.statTurnP50": "Turn p50",
  "page.statReceived": "Received",
  "page.statReplies": "Replies",
  "page.statRepliesValue": "{replies} ({parts} parts)",
  "page.statRateLimitWait": "Rate-limit wait",
  "page.opencodeReachable": "OpenCode reachable at {url}",
  "page.opencodeUnreachableTitle": "OpenCode is not reachable",
  "page.opencodeUnreachableHint": "at {url}. Start it in your project with {command} (or set OPENCODE_SERVER_URL), then send your message again.",
  "page.chatRobot": "Robot",
  "page.chatSandboxTeam": "Sandbox team",
  "page.chatGroupN": "Group {n}",
  "page.chatN": "Chat {n}",
  "page.tooManyChats": "At most {max} chats; restart the sandbox for a fresh set.",
  "page.badSend": "unknown chat or empty text",
  "page.badAttach": "unknown chat, or no file",
  "page.unknownFile": "unknown file",
  "page.attach": "Attach a file or picture (the text goes with it)",
  "page.pictureAlt": "picture from the robot",
  "page.download": "Download",
  "page.cardMeta": "AI card, {state}, {updates} calls",
  "page.card.streaming": "streaming",
  "page.card.finished": "finished",
  "page.card.failed": "failed",
} as const

/** A message's key. */
export type MessageKey = keyof typeof en

/** A language's texts: every key of the catalogue. */
export type Catalogue = { readonly [K in MessageKey]: string }
