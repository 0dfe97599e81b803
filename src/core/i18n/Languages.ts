/**
 * The registry of chat languages. Adding one: a file beside `en.ts` with every key (typed `Catalogue`),
 * and one line below. `BRIDGE_LANGUAGE` accepts the keys of this object.
 */
import { type Catalogue, en } from "./en.js"
import { zhCN } from "./zh-CN.js"

export const catalogues = {
  "zh-CN": zhCN,
  en,
} as const satisfies Record<string, Catalogue>

/** A language the bridge can chat in. */
export type Language = keyof typeof catalogues

/** The languages, in registry order (the first is the default). */
export const languages = Object.keys(catalogues) as ReadonlyArray<Language>

/** The default chat language. */
export const defaultLanguage: Language = "zh-CN"

/** A configured name → a language: exact or case-insensitive (`zh-cn`, `EN`), else by primary subtag (`zh`, `en-US`). */
export const languageOf = (raw: string): Language | undefined => {
  const wanted = raw.trim().toLowerCase().replace(/_/g, "-")
  const exact = languages.find((language) => language.toLowerCase() === wanted)
  if (exact !== undefined) return exact
  const primary = wanted.split("-")[0]
  return languages.find((language) => language.toLowerCase().split("-")[0] === primary)
}
