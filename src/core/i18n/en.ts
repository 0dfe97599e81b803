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
- \`/allow\`, \`/always\`, \`/deny [reason]\` answer the agent's permission request (add its number when several wait)
- a number (or several, \`1,3\`) or your own words answer the agent's question; \`/skip\` dismisses it
- \`/sessions\` list this chat's OpenCode sessions; \`/session <n>\` switch to one
- \`/model\` list models; \`/model <provider/model>\` use one in this chat
- \`/agent\` list agents; \`/agent <name>\` use one in this chat

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
  "connection.client": "none (MCP-only cluster client)",

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

  // The agent's permission requests and questions
  "time.minutes": "{n} min",
  "time.seconds": "{n} s",
  "ask.permissionTitle": "OpenCode asks for permission",
  "ask.questionTitle": "OpenCode asks",
  "ask.permissionHeading": "🔐 **OpenCode asks for permission** (#{number})",
  "ask.permissionWants": "The agent wants to use **{permission}**",
  "ask.permissionWantsOn": "The agent wants to use **{permission}**: {subject}",
  "ask.patterns": "- patterns: {patterns}",
  "ask.alwaysWould": "- \"always\" would allow: {patterns}",
  "ask.permissionReply": "Reply `/allow {number}` (once), `/always {number}` or `/deny {number} [reason]`. Without an answer within {time} it is rejected.",
  "ask.questionHeading": "❓ **OpenCode asks** (#{number})",
  "ask.questionHeadingOf": "❓ **OpenCode asks** (#{number}, question {index} of {total})",
  "ask.typeAnswer": "Type your answer, or `/skip {number}` to dismiss the question.",
  "ask.replyOne": "Reply with a number or type your own answer; `/skip {number}` dismisses it.",
  "ask.replyOneOnly": "Reply with a number; `/skip {number}` dismisses it.",
  "ask.replyMany": "Reply with one or more numbers (`1,3`) or type your own answer; `/skip {number}` dismisses it.",
  "ask.replyManyOnly": "Reply with one or more numbers (`1,3`); `/skip {number}` dismisses it.",
  "ask.dismissedAfter": "Without an answer within {time} it is dismissed.",
  "ask.refusal": "Only the sender of the prompt or an admin (DINGTALK_ADMINS) can answer request #{number}.",
  "ask.refusalAsker": "Only the person who sent the prompt or an admin (DINGTALK_ADMINS) can answer request #{number}.",
  "ask.waiting": "Waiting for an answer",
  "ask.expiredCardRejected": "⌛ No answer within {time}: rejected",
  "ask.expiredCardDismissed": "⌛ No answer within {time}: dismissed",
  "ask.expiredRejected": "⌛ Request #{number} got no answer within {time}: it was rejected and the agent was told.",
  "ask.expiredDismissed": "⌛ Request #{number} got no answer within {time}: it was dismissed and the agent was told.",
  "ask.answeredInOpenCodeCard": "Answered in OpenCode ({how})",
  "ask.answeredInOpenCode": "Request #{number} is no longer waiting (OpenCode: {how}).",
  "ask.how.once": "once",
  "ask.how.always": "always",
  "ask.how.reject": "reject",
  "ask.how.answered": "answered",
  "ask.how.dismissed": "dismissed",
  "ask.noSuchRequest": "No request #{number} is waiting in this chat.",
  "ask.isQuestion": "#{number} is a question: answer it with a number or words, or `/skip {number}`.",
  "ask.isPermission": "#{number} is a permission request: answer it with `/allow {number}`, `/always {number}` or `/deny {number}`.",
  "ask.noPermission": "No permission request is waiting in this chat.",
  "ask.noQuestion": "No question is waiting in this chat.",
  "ask.severalPermission": "Several requests wait ({list}): add the number, e.g. `/allow {first}`.",
  "ask.severalQuestion": "Several requests wait ({list}): add the number, e.g. `/skip {first}`.",
  "ask.alreadyAnswered": "Already answered",
  "ask.alreadyAnsweredText": "Request #{number} was already answered.",
  "ask.notSent": "Not sent",
  "ask.notSentText": "Could not send the answer for #{number} to OpenCode; try again, or the operator can see details in the logs.",
  "ask.rejectedBy": "🚫 Rejected by {by}",
  "ask.rejectedByReason": "🚫 Rejected by {by}: {reason}",
  "ask.alwaysBy": "✅ Always allowed by {by}",
  "ask.onceBy": "✅ Allowed once by {by}",
  "ask.answeredBy": "✅ Answered by {by}: {answers}",
  "ask.dismissedBy": "⏭ Dismissed by {by}",
  "ask.withdrawnCard": "Withdrawn: {why}",
  "ask.withdrawn": "Request #{number} was withdrawn: {why}.",
  "ask.why.stopped": "the turn was stopped",
  "ask.why.turnEnded": "the turn ended before an answer came",
  "ask.statusPermission": "**Waiting for your answer:** #{number} permission for **{permission}** ({left} left)",
  "ask.statusPermissionOn": "**Waiting for your answer:** #{number} permission for **{permission}** {subject} ({left} left)",
  "ask.statusQuestion": "**Waiting for your answer:** #{number} question: {question} ({left} left)",
  "ask.noOption": "There is no option {option}; answer with a number from 1 to {max}.",
  "ask.pickOne": "Pick one option only (one number).",
  "ask.numberOnly": "Answer with a number from 1 to {max}.",
  "ask.typeIt": "Type your answer.",

  // /sessions, /session, /model, /agent
  "settings.title": "Settings",
  "settings.noSession": "This chat has no OpenCode session yet; your next message starts one.",
  "settings.noSessionShort": "This chat has no OpenCode session yet.",
  "settings.sessionsHeading": "**OpenCode sessions of this chat** (newest first):",
  "settings.sessionsHint": "`/session <n>` switches to one; `/new` starts a fresh one.",
  "settings.noSuchSession": "There is no session {number}; `/sessions` lists 1 to {count}.",
  "settings.switched": "Switched to session {number}: {title} (`{id}`). Your next message continues it.",
  "settings.default": "OpenCode's default",
  "settings.modelsHeading": "**Models** (this chat: {current}):",
  "settings.more": "- … and {count} more",
  "settings.modelsHint": "`/model <provider/model>` uses one in this chat; `/model default` goes back to OpenCode's default.",
  "settings.modelAdminOnly": "Only an admin (DINGTALK_ADMINS) can change the model in a group.",
  "settings.modelDefault": "This chat uses OpenCode's default model again.",
  "settings.modelForm": "`{model}` is not of the form `provider/model`; `/model` lists them.",
  "settings.noModel": "OpenCode has no model `{model}`; `/model` lists them.",
  "settings.modelSet": "This chat now uses `{model}` for its next prompts.",
  "settings.agentsHeading": "**Agents** (this chat: {current}):",
  "settings.agentsHint": "`/agent <name>` uses one in this chat; `/agent default` goes back to OpenCode's default.",
  "settings.agentAdminOnly": "Only an admin (DINGTALK_ADMINS) can change the agent in a group.",
  "settings.agentDefault": "This chat uses OpenCode's default agent again.",
  "settings.noAgent": "OpenCode has no agent `{agent}`; choose one of {agents}.",
  "settings.agentSet": "This chat now uses the `{agent}` agent for its next prompts.",
  "settings.failed": "⚠️ OpenCode did not answer; try again, or the operator can see details in the logs.",
  "settings.statusModel": "**Model:** {model}",
  "settings.statusAgent": "**Agent:** {agent}",

  // Sandbox page buttons for the agent's requests
  "page.allowOnce": "Allow once",
  "page.always": "Always",
  "page.reject": "Reject",
  "page.skip": "Skip",

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
