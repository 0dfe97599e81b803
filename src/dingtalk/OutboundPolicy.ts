/**
 * Where the bridge may send: a frame or a state file names a `sessionWebhook`, and a gateway answer names a
 * WebSocket endpoint; neither is trusted to pick an arbitrary host (a reply carries the conversation, and a
 * webhook's query is its credential). Webhooks only over https to DingTalk's own hosts, or to exactly the
 * origin (scheme, host, port) of `DINGTALK_API_URL` (the emulator serves its webhooks there); the gateway
 * endpoint only over `wss:`, or `ws:` on loopback (the emulator).
 */
import { Result } from "effect"
import { isLoopbackHost } from "../core/BridgeConfig.js"

/** DingTalk's public API hosts. */
export const DINGTALK_HOSTS: ReadonlyArray<string> = ["oapi.dingtalk.com", "api.dingtalk.com"]

/** A URL for logs: scheme, host, port and path, never the query (webhook tokens live there) or user info. */
export const describeUrl = (raw: string): string => {
  try {
    const url = new URL(raw)
    return `${url.protocol}//${url.host}${url.pathname}`
  } catch {
    return "(not a URL)"
  }
}

const parse = (raw: string): Result.Result<URL, string> => {
  try {
    return Result.succeed(new URL(raw))
  } catch {
    return Result.fail("it is not a URL")
  }
}

/** A webhook URL the bridge may POST to, or why not. `apiUrl` is the configured `DINGTALK_API_URL`. */
export const checkWebhook = (raw: string, apiUrl: string): Result.Result<URL, string> =>
  Result.flatMap(parse(raw), (url) => {
    if (url.username !== "" || url.password !== "") return Result.fail("it carries user info")
    if (url.origin === new URL(apiUrl).origin) return Result.succeed(url)
    if (url.protocol === "https:" && url.port === "" && DINGTALK_HOSTS.includes(url.hostname)) return Result.succeed(url)
    return Result.fail(`only https://${DINGTALK_HOSTS.join(" or https://")} or the origin of DINGTALK_API_URL are allowed`)
  })

/** A gateway WebSocket endpoint the bridge may open, or why not. */
export const checkGatewayEndpoint = (raw: string): Result.Result<URL, string> =>
  Result.flatMap(parse(raw), (url) => {
    if (url.protocol === "wss:") return Result.succeed(url)
    if (url.protocol === "ws:" && isLoopbackHost(url.hostname)) return Result.succeed(url)
    return Result.fail("only wss: (or ws: on loopback) is allowed")
  })

/** A warning when `DINGTALK_API_URL` would carry the client secret in clear over the network (plain http, not loopback). */
export const apiUrlWarning = (apiUrl: string): string | undefined => {
  const url = new URL(apiUrl)
  return url.protocol === "https:" || isLoopbackHost(url.hostname)
    ? undefined
    : `DINGTALK_API_URL ${describeUrl(apiUrl)} is not https: the client secret, tokens and replies would cross the network in clear`
}
