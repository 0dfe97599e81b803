/**
 * The chat commands that choose a conversation's OpenCode session, model and agent: `/sessions`,
 * `/session <n>`, `/model [provider/model]`, `/agent [name]`. Choices apply to the conversation's next
 * prompts, are kept in `ChatChoices` (so they survive a restart) and show in `/status`. Changing the
 * model or agent is privileged: in groups only `DINGTALK_ADMINS` may.
 */
import { Context, Effect, Layer, Option } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { Delivery } from "../dingtalk/Delivery.js"
import type { InboundMessage } from "../dingtalk/RobotMessage.js"
import { OpenCodeClient, type SessionInfo } from "../opencode/OpenCodeClient.js"
import { ModelCatalog } from "../opencode/ModelCatalog.js"
import { Sessions } from "../opencode/Sessions.js"
import { ChatChoices, modelRef } from "./ChatChoices.js"
import type { SettingCommand } from "./InteractiveCommands.js"

const MAX_LISTED = 30

const when = (session: SessionInfo): string => {
  const at = session.time?.updated ?? session.time?.created
  return at === undefined ? "" : ` — ${new Date(at).toISOString().slice(0, 16).replace("T", " ")} UTC`
}

/** The chat's session, model and agent commands. */
export class ChatSettings extends Context.Service<ChatSettings, {
  /** Runs a command and answers in the chat (in the background of the caller's stream). */
  readonly run: (message: InboundMessage, command: SettingCommand) => Effect.Effect<void>
  /** Lines for `/status`: the chosen model and agent. */
  readonly statusLines: (conversationId: string) => Effect.Effect<ReadonlyArray<string>>
  /** The model and agent to send with the conversation's next prompt. */
  readonly promptOptions: (conversationId: string) => Effect.Effect<{ model?: { providerID: string; modelID: string }; agent?: string }>
}>()("dingtalk-mcp-server/ChatSettings") {
  /** The commands over OpenCode; models come from `ModelCatalog` (never the 14 MB `GET /provider`). */
  static readonly layer = Layer.effect(
      ChatSettings,
      Effect.gen(function*() {
        const settings = yield* BridgeConfig
        const opencode = yield* OpenCodeClient
        const sessions = yield* Sessions
        const choices = yield* ChatChoices
        const delivery = yield* Delivery
        const catalog = yield* ModelCatalog
        const admins = settings.access.admins

        // Sessions chosen before a restart are the conversations' sessions again.
        for (const [conversationId, choice] of yield* choices.all) {
          if (choice.sessionId !== undefined) yield* sessions.use(conversationId, choice.sessionId)
        }

        const say = (conversationId: string, text: string) =>
          delivery.send({ conversationId, text, format: "markdown", title: "Settings" }).pipe(
            Effect.catch((error) => Effect.logWarning("Could not answer a settings command").pipe(Effect.annotateLogs({ conversationId, error: error.message }))),
            Effect.asVoid
          )
        const privileged = (message: InboundMessage) =>
          message.conversationType === "single" || admins.includes(message.senderKey) || admins.includes(message.senderId)

        const listSessions = (conversationId: string) =>
          Effect.gen(function*() {
            const list = yield* sessions.listFor(conversationId)
            if (list.length === 0) return "This chat has no OpenCode session yet; your next message starts one."
            const current = Option.getOrElse(yield* sessions.peek(conversationId), () => list[0]!.id)
            return [
              "**OpenCode sessions of this chat** (newest first):",
              "",
              ...list.slice(0, MAX_LISTED).map((s, i) => `${i + 1}. ${s.id === current ? "▶ " : ""}${s.title ?? s.id} (\`${s.id}\`)${when(s)}`),
              "",
              "`/session <n>` switches to one; `/new` starts a fresh one.",
            ].join("\n")
          })

        const switchSession = (message: InboundMessage, number: number) =>
          Effect.gen(function*() {
            const conversationId = message.conversationId
            const list = yield* sessions.listFor(conversationId)
            const chosen = list[number - 1]
            if (chosen === undefined) return list.length === 0 ? "This chat has no OpenCode session yet." : `There is no session ${number}; \`/sessions\` lists 1 to ${list.length}.`
            yield* sessions.use(conversationId, chosen.id)
            yield* choices.set(conversationId, { sessionId: chosen.id })
            return `Switched to session ${number}: ${chosen.title ?? chosen.id} (\`${chosen.id}\`). Your next message continues it.`
          })

        const listModels = (conversationId: string) =>
          Effect.gen(function*() {
            const all = yield* catalog.models
            const fallback = Option.getOrUndefined(yield* catalog.defaultModel.pipe(Effect.orElseSucceed(() => Option.none<string>())))
            const chosen = (yield* choices.get(conversationId)).model
            const current = chosen ?? fallback
            return [
              `**Models** (this chat: ${chosen === undefined ? `OpenCode's default${fallback === undefined ? "" : ` \`${fallback}\``}` : `\`${chosen}\``}):`,
              "",
              ...all.slice(0, MAX_LISTED).map((m) => `- ${m.ref === current ? "▶ " : ""}\`${m.ref}\`${m.name !== "" && m.name !== m.modelId ? ` — ${m.name}` : ""}`),
              ...(all.length > MAX_LISTED ? [`- … and ${all.length - MAX_LISTED} more`] : []),
              "",
              "`/model <provider/model>` uses one in this chat; `/model default` goes back to OpenCode's default.",
            ].join("\n")
          })

        const setModel = (message: InboundMessage, model: string) =>
          Effect.gen(function*() {
            if (!privileged(message)) return "Only an admin (DINGTALK_ADMINS) can change the model in a group."
            const conversationId = message.conversationId
            if (model === "default") {
              yield* choices.set(conversationId, { model: undefined })
              return "This chat uses OpenCode's default model again."
            }
            if (modelRef(model) === undefined) return `\`${model}\` is not of the form \`provider/model\`; \`/model\` lists them.`
            if (Option.isNone(yield* catalog.find(model))) return `OpenCode has no model \`${model}\`; \`/model\` lists them.`
            yield* choices.set(conversationId, { model })
            return `This chat now uses \`${model}\` for its next prompts.`
          })

        const primaryAgents = opencode.agents.pipe(Effect.map((all) => all.filter((a) => a.hidden !== true && a.mode !== "subagent")))

        const listAgents = (conversationId: string) =>
          Effect.gen(function*() {
            const agents = yield* primaryAgents
            const chosen = (yield* choices.get(conversationId)).agent
            return [
              `**Agents** (this chat: ${chosen === undefined ? "OpenCode's default" : `\`${chosen}\``}):`,
              "",
              ...agents.map((a) => `- ${a.name === chosen ? "▶ " : ""}\`${a.name}\`${a.description === undefined ? "" : ` — ${a.description.split("\n")[0]!.slice(0, 120)}`}`),
              "",
              "`/agent <name>` uses one in this chat; `/agent default` goes back to OpenCode's default.",
            ].join("\n")
          })

        const setAgent = (message: InboundMessage, agent: string) =>
          Effect.gen(function*() {
            if (!privileged(message)) return "Only an admin (DINGTALK_ADMINS) can change the agent in a group."
            const conversationId = message.conversationId
            if (agent === "default") {
              yield* choices.set(conversationId, { agent: undefined })
              return "This chat uses OpenCode's default agent again."
            }
            const agents = yield* primaryAgents
            if (!agents.some((a) => a.name === agent)) return `OpenCode has no agent \`${agent}\`; choose one of ${agents.map((a) => `\`${a.name}\``).join(", ")}.`
            yield* choices.set(conversationId, { agent })
            return `This chat now uses the \`${agent}\` agent for its next prompts.`
          })

        const run = (message: InboundMessage, command: SettingCommand) =>
          Effect.gen(function*() {
            const conversationId = message.conversationId
            const text = yield* (() => {
              switch (command._tag) {
                case "Sessions":
                  return listSessions(conversationId)
                case "Session":
                  return switchSession(message, command.number)
                case "Model":
                  return command.model === undefined ? listModels(conversationId) : setModel(message, command.model)
                case "Agent":
                  return command.agent === undefined ? listAgents(conversationId) : setAgent(message, command.agent)
              }
            })().pipe(Effect.catch((error: { readonly message: string }) =>
              // OpenCode's address and raw errors stay in the log, never in chat.
              Effect.logWarning("Settings command failed").pipe(
                Effect.annotateLogs({ command: command._tag, error: error.message }),
                Effect.as("⚠️ OpenCode did not answer; try again, or the operator can see details in the logs.")
              )))
            yield* say(conversationId, text)
          }).pipe(Effect.withSpan("ChatSettings.run"))

        const statusLines = (conversationId: string) =>
          choices.get(conversationId).pipe(Effect.map((choice) => [
            `**Model:** ${choice.model ?? "OpenCode's default"}`,
            `**Agent:** ${choice.agent ?? "OpenCode's default"}`,
          ]))

        const promptOptions = (conversationId: string) =>
          choices.get(conversationId).pipe(Effect.map((choice) => {
            const model = choice.model === undefined ? undefined : modelRef(choice.model)
            return { ...(model === undefined ? {} : { model }), ...(choice.agent === undefined ? {} : { agent: choice.agent }) }
          }))

        return ChatSettings.of({ run, statusLines, promptOptions })
      })
    )
}
