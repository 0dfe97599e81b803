/**
 * The chat message catalogue: every key in every language with the same placeholders, `zh-CN` by
 * default through the real bridge, `en` on request, and no chat text in code that bypasses it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { parseAst } from "rolldown/parseAst"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { catalogues, fill, languages, type MessageKey, Messages, messagesFor, placeholdersIn } from "../../src/core/Messages.js"
import { chatPageHtml } from "../../src/app/ChatPageHtml.js"
import { supportedTypes } from "../../src/dingtalk/RobotMessage.js"
import { DingTalkEmulatorScoped } from "../../src/emulator/DingTalkEmulator.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"
import { bridgeFixture, startBridge, testEnv } from "../support/bridge.js"

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src")
const HAN = /\p{Script=Han}/u

describe("catalogue", () => {
  const keys = Object.keys(catalogues.en).sort()

  it("every language has exactly the English keys, each with the same placeholders", () => {
    assert.isAbove(keys.length, 30)
    for (const language of languages) {
      const catalogue: Record<string, string> = catalogues[language]
      assert.deepStrictEqual(Object.keys(catalogue).sort(), keys, `keys of ${language}`)
      for (const key of keys) {
        const want = [...new Set(placeholdersIn(catalogues.en[key as MessageKey]))].sort()
        assert.deepStrictEqual([...new Set(placeholdersIn(catalogue[key]!))].sort(), want, `placeholders of ${language} ${key}`)
        assert.isTrue(catalogue[key]!.trim() !== "", `${language} ${key} is empty`)
      }
    }
  })

  it("zh-CN is Chinese: every text that is more than a command or a name has Han characters", () => {
    const neutral = new Set(["turn.failedPrefix", "status.opencode"])
    const untranslated = keys.filter((key) => !neutral.has(key) && !HAN.test(catalogues["zh-CN"][key as MessageKey]))
    assert.deepStrictEqual(untranslated, [])
  })

  it("text fills placeholders, and the compiler knows which a key needs", () => {
    const zh = messagesFor("zh-CN")
    assert.strictEqual(zh.text("turn.stopped"), "⏹ 已停止。")
    assert.strictEqual(messagesFor("en").text("input.tooLong", { bytes: 70_000, limit: 65_536 }), "That message is 70000 bytes; the limit is 65536. Send a shorter one.")
    assert.strictEqual(fill("{a} and {b}", { a: 1 }), "1 and {b}")
    // @ts-expect-error input.tooLong needs bytes and limit
    assert.include(zh.text("input.tooLong"), "{bytes}")
  })

  it("BRIDGE_LANGUAGE: zh-CN by default; en, zh and EN-us are understood; anything else is refused with the choices", () =>
    Effect.gen(function*() {
      const languageOf = (env: Record<string, string>) => BridgeConfig.use((settings) => Effect.succeed(settings.chat.language)).pipe(
        Effect.provide(BridgeConfig.layerFrom({ DINGTALK_CLIENT_ID: "id", DINGTALK_CLIENT_SECRET: "secret", ...env }))
      )
      assert.strictEqual(yield* languageOf({}), "zh-CN")
      assert.strictEqual(yield* languageOf({ BRIDGE_LANGUAGE: "" }), "zh-CN")
      assert.strictEqual(yield* languageOf({ BRIDGE_LANGUAGE: "en" }), "en")
      assert.strictEqual(yield* languageOf({ BRIDGE_LANGUAGE: "zh" }), "zh-CN")
      assert.strictEqual(yield* languageOf({ BRIDGE_LANGUAGE: "EN-us" }), "en")
      const refused = yield* Effect.exit(languageOf({ BRIDGE_LANGUAGE: "fr" }))
      assert.isTrue(Exit.isFailure(refused))
      assert.match(String(Exit.isFailure(refused) ? refused.cause : ""), /BRIDGE_LANGUAGE must be one of zh-CN, en; got "fr"/)
      const messages = yield* Messages.pipe(Effect.provide(Messages.layerFor("en")))
      assert.strictEqual(messages.language, "en")
    }))
})

describe("through the bridge", () => {
  it.live("/help is answered in Chinese when BRIDGE_LANGUAGE is not set", () =>
    Effect.gen(function*() {
      const emulator = yield* DingTalkEmulatorScoped()
      const opencode = yield* FakeOpenCodeScoped()
      // The variable truly unset (testEnv sets en for the other tests).
      const { BRIDGE_LANGUAGE: _unset, ...env } = testEnv(emulator, opencode.url)
      yield* startBridge(env)
      yield* Effect.promise(() => emulator.waitForConnections(1))
      emulator.pushMessage({ text: "/help", conversationId: "cid-help" })
      const [reply] = yield* Effect.promise(() => emulator.waitForReplies(1, { conversationId: "cid-help" }))
      assert.strictEqual(reply!.text, messagesFor("zh-CN").text("help.text", { types: supportedTypes.join(", ") }))
      assert.match(reply!.text, HAN)
      assert.include(reply!.text, "/new")
    }).pipe(Effect.scoped))

  it.live("BRIDGE_LANGUAGE=en answers /help and /stop in English", () =>
    Effect.gen(function*() {
      const { emulator } = yield* bridgeFixture({ env: { BRIDGE_LANGUAGE: "en" } })
      emulator.pushMessage({ text: "/help", conversationId: "cid-en" })
      emulator.pushMessage({ text: "/stop", conversationId: "cid-en" })
      const replies = yield* Effect.promise(() => emulator.waitForReplies(2, { conversationId: "cid-en" }))
      assert.match(replies[0]!.text, /^I forward your messages to an OpenCode coding agent/)
      assert.strictEqual(replies[1]!.text, "Nothing is running in this chat.")
      assert.notMatch(replies.map((r) => r.text).join("\n"), HAN)
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------------------------
// No chat text bypasses the catalogue.

/** Files whose string literals may reach a chat: the pipeline, and these (add chat-facing files here). */
const CHAT_FACING = [
  ...readdirSync(path.join(SRC, "pipeline"), { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".ts")).map((file) => path.join("pipeline", file)),
  "app/ChatPage.ts",
]

/** Calls whose string arguments are for the operator (logs, spans, stderr), not for chat. */
const OPERATOR_CALLS = /(?:^|\.)(log|logTrace|logDebug|logInfo|logWarning|logError|logFatal|annotateLogs|withSpan|fn|fnUntraced)$|^Console\.error$/
/** Helpers with a log line among their arguments: the argument's index. */
const LOG_ARGUMENT: Record<string, number> = { noticeOutside: 2, gated: 3 }
/** Declarations whose texts are for the model (the prompt OpenCode reads) or the operator, not for chat. */
const NOT_CHAT_DECLARATIONS = new Set([
  "quoteBlock", "promptText", "kindLabel", // pipeline/PromptParts.ts: the prompt
  "describe", // pipeline/LiveTurn.ts: TurnFailed's detail, for the log
  "toAgent", "WITHDRAWN_TO_AGENT", // pipeline/Interactions.ts: the reason the agent reads with a rejection
])
/** Properties that by this codebase's convention carry diagnostics for logs (`Rejected.reason`, errors' `detail`). */
const OPERATOR_PROPERTIES = new Set(["reason", "detail"])
/** Properties of a reply that a chat user reads. */
const CHAT_PROPERTIES = new Set(["text", "title", "content", "markdown", "error"])

/** Words a person reads: two words in a row, or any Han character. */
const isProse = (text: string) => /\p{L}{2,}[^\S\n]+\p{L}{2,}/u.test(text) || HAN.test(text)

// An ESTree node, as the oxc parser (rolldown's) gives it.
interface Node {
  readonly type: string
  readonly start: number
  readonly [field: string]: unknown
}
const isNode = (value: unknown): value is Node => typeof value === "object" && value !== null && typeof (value as Node).type === "string"

/** The literal text of a string or template (substitutions as a space), or undefined for other nodes. */
const literalText = (node: Node): string | undefined =>
  node.type === "Literal" && typeof node.value === "string" ? node.value
  : node.type === "TemplateLiteral" ? (node.quasis as Array<{ value: { cooked: string } }>).map((quasi) => quasi.value.cooked).join(" ")
  : undefined

const nameOf = (node: unknown): string =>
  !isNode(node) ? ""
  : node.type === "Identifier" ? node.name as string
  : node.type === "MemberExpression" ? `${nameOf(node.object)}.${nameOf(node.property)}`
  : node.type === "Literal" ? String(node.value)
  : ""

/** Whether a literal sits where only the operator reads it; `path` is its ancestors, outermost first. */
const forOperator = (node: Node, path: ReadonlyArray<Node>): boolean => {
  for (let i = path.length - 1, child = node; i >= 0; child = path[i]!, i--) {
    const parent = path[i]!
    if (parent.type === "CallExpression" || parent.type === "NewExpression") {
      const name = nameOf(parent.callee)
      if (OPERATOR_CALLS.test(name)) return true
      const index = (parent.arguments as Array<Node>).indexOf(child)
      if (index >= 0 && LOG_ARGUMENT[name.split(".").pop()!] === index) return true
    }
    if (parent.type === "Property" && parent.value === child && OPERATOR_PROPERTIES.has(nameOf(parent.key))) return true
    if (parent.type === "VariableDeclarator" && NOT_CHAT_DECLARATIONS.has(nameOf(parent.id))) return true
    // Error messages (`get message()`) go to logs and MCP results.
    if (parent.type === "MethodDefinition" && parent.kind === "get" && nameOf(parent.key) === "message") return true
    // Tagged templates are code (SQL).
    if (parent.type === "TaggedTemplateExpression") return true
    // Module names (`export const …` holds code like any other).
    if (/^(Import|Export\w*)Declaration$/.test(parent.type) && parent.source === child) return true
  }
  return false
}

/** The chat texts written in `source` instead of taken from the catalogue, as `line: text`. */
const bypasses = (source: string, fileName = "planted.ts"): ReadonlyArray<string> => {
  const found: Array<string> = []
  const lineOf = (offset: number) => source.slice(0, offset).split("\n").length
  const visit = (node: Node, path: Array<Node>) => {
    const text = literalText(node)
    if (text !== undefined) {
      const parent = path.at(-1)
      const property = parent?.type === "Property" && parent.value === node ? nameOf(parent.key) : undefined
      const suspicious = isProse(text) || (property !== undefined && CHAT_PROPERTIES.has(property) && /\p{L}/u.test(text))
      if (suspicious && !forOperator(node, path)) found.push(`${lineOf(node.start)}: ${text.slice(0, 80)}`)
      if (node.type === "Literal") return
    }
    path.push(node)
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) for (const item of value) isNode(item) && visit(item, path)
      else if (isNode(value)) visit(value, path)
    }
    path.pop()
  }
  visit(parseAst(source, { lang: "ts" }, fileName) as unknown as Node, [])
  return found
}

describe("no chat text bypasses the catalogue", () => {
  it("the check finds planted texts (sent, notified, replied, in a reply object) and passes logs and spans", () => {
    assert.lengthOf(bypasses(`notify(conversationId, "Nothing is running here.")`), 1)
    assert.lengthOf(bypasses("notify(conversationId, `Started a new session (${id}).`)"), 1)
    assert.lengthOf(bypasses(`delivery.replyTo(message, { text: "Approved", format: "text" })`), 1)
    assert.lengthOf(bypasses(`delivery.send({ conversationId, text: ok ? "已停止。" : stopped, format: "text" })`), 1)
    assert.lengthOf(bypasses(`const lines = ["Session: none yet", "Queue idle"].join("\\n")`), 2)
    assert.lengthOf(bypasses(`export const f = () => Effect.gen(function*() { return { text: "⏹ Stopped." } })`), 1)
    assert.deepStrictEqual(bypasses([
      `Effect.logWarning("Notice not delivered").pipe(Effect.annotateLogs({ error: "no route at all" }))`,
      "yield* Effect.logInfo(`Message from ${who}: ${preview}`)",
      `noticeOutside(message, messages.text("access.denied"), \`Denied \${who}\`)`,
      `const x = { format: "text", route: "webhook" }`,
      `class E { get message() { return "OpenCode is not reachable" } }`,
    ].join("\n")), [])
  })

  for (const file of CHAT_FACING) {
    it(`src/${file}`, () => {
      assert.deepStrictEqual(bypasses(readFileSync(path.join(SRC, file), "utf8"), file), [])
    })
  }

  it("the sandbox page shows no English when the language is zh-CN (labels, attributes and script strings)", () => {
    const html = chatPageHtml(messagesFor("zh-CN"))
    assert.include(html, '<html lang="zh-CN">')
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!
    // The catalogue the script reads is data, not code: leave it out.
    const code = script.replace(/^const T = .*$/m, "")
    const body = html.replace(/<style>[\s\S]*<\/style>/, "").replace(/<script>[\s\S]*<\/script>/, "")
    const visible = body.replace(/<[^>]*>/g, " ")
    const attributes = [...body.matchAll(/(?:placeholder|aria-label|value|title)="([^"]*)"/g)].map((match) => match[1]!)
    // CSS class names and message kinds are code too.
    const style = /<style>([\s\S]*)<\/style>/.exec(html)![1]!
    const classes = new Set([...style.matchAll(/\.([a-z][\w-]*)/g)].map((match) => match[1]!).concat("user", "robot", "card"))
    const scriptStrings = [...code.matchAll(/"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'/g)]
      .map((match) => (match[1] ?? match[2]!).replace(/<\/?\w+[^>]*>?/g, " ").replace(/[\w-]+="[^"]*"?/g, " ").split(/\s+/).filter((word) => !classes.has(word)).join(" "))
    const english = (text: string) => /\b(?!(?:DingTalk|OpenCode|OPENCODE_SERVER_URL|help|opencode|serve|port|ms|p50)\b)[A-Za-z]{3,}\b/.test(text)
    assert.deepStrictEqual(visible.split(/\s{2,}|\n/).filter(english), [])
    assert.deepStrictEqual(attributes.filter(english), [])
    assert.deepStrictEqual(scriptStrings.filter((text) => isProse(text) && english(text)), [])
    // The same check fails on the English page.
    assert.isNotEmpty(chatPageHtml(messagesFor("en")).replace(/<style>[\s\S]*<\/style>/, "").replace(/<script>[\s\S]*<\/script>/, "").replace(/<[^>]*>/g, " ").split(/\s{2,}|\n/).filter(english))
  })
})
