/**
 * Every text a chat user reads comes from here: one catalogue per language (`src/core/i18n/`), chosen by
 * `BRIDGE_LANGUAGE` (default `zh-CN`). Texts carry `{name}` placeholders, filled by `text(key, params)`;
 * the key's placeholders are checked at compile time. Operator texts (logs, CLI, doctor) stay English.
 */
import { Context, Effect, Layer } from "effect"
import { BridgeConfig } from "./BridgeConfig.js"
import { type Catalogue, type en, type MessageKey } from "./i18n/en.js"
import { catalogues, type Language } from "./i18n/Languages.js"

export type { Catalogue, MessageKey } from "./i18n/en.js"
export { catalogues, defaultLanguage, type Language, languages } from "./i18n/Languages.js"

/** The `{name}` placeholders of a template, as a union of names. */
type PlaceholdersOf<S extends string> = S extends `${string}{${infer Name}}${infer Rest}` ? Name | PlaceholdersOf<Rest> : never

/** The placeholders of a key (taken from the English text, which every language shares). */
export type ParamsOf<K extends MessageKey> = PlaceholdersOf<typeof en[K]>

/** `text(key)` for keys without placeholders, `text(key, { … })` with exactly theirs. */
export type TextArgs<K extends MessageKey> = [ParamsOf<K>] extends [never] ? [] : [params: { readonly [P in ParamsOf<K>]: string | number }]

/** The placeholder names in a template, in order of appearance (for checks). */
export const placeholdersIn = (template: string): ReadonlyArray<string> => [...template.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!)

/** Fills `{name}` placeholders; a name without a value stays as written. */
export const fill = (template: string, params: Readonly<Record<string, string | number>> = {}): string =>
  template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole))

/** The texts of one language. */
export interface MessagesShape {
  readonly language: Language
  /** The text of `key` in this language, with its placeholders filled. */
  readonly text: <K extends MessageKey>(key: K, ...params: TextArgs<K>) => string
  /** Every text of this language, unfilled (the sandbox page takes its labels from here). */
  readonly catalogue: Catalogue
}

/** The chat texts in one language. */
export const messagesFor = (language: Language): MessagesShape => {
  const catalogue = catalogues[language]
  return {
    language,
    catalogue,
    text: (key, ...params) => fill(catalogue[key], params[0] as Readonly<Record<string, string | number>> | undefined),
  }
}

/** The chat texts in the configured language. */
export class Messages extends Context.Service<Messages, MessagesShape>()("dingtalk-mcp-server/Messages") {
  /** The language `BRIDGE_LANGUAGE` names. */
  static readonly layer = Layer.effect(Messages, Effect.gen(function*() {
    const settings = yield* BridgeConfig
    return messagesFor(settings.chat.language)
  }))
  /** A fixed language, e.g. for tests. */
  static readonly layerFor = (language: Language) => Layer.succeed(Messages, messagesFor(language))
}
