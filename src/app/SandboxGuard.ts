/**
 * The sandbox page's door checks: any web site the user visits can make their browser send requests to
 * 127.0.0.1, so a request must name this page's Host, come from its Origin (when a browser says), carry
 * the per-run token the page was served with (`/api/*`), and send a small JSON body.
 */
import type http from "node:http"
import { isLoopbackHost } from "../core/BridgeConfig.js"
import { constantTimeEquals } from "../core/ConstantTimeEquals.js"

/** Caps of the sandbox page. */
export const SANDBOX_LIMITS = { maxBodyBytes: 64 * 1024, maxChats: 50, maxMessages: 1_000 } as const

/** Attachments the page uploads (JSON with base64): a screenshot or a log, not a video archive. */
export const SANDBOX_MAX_ATTACHMENT_BODY_BYTES = 8 * 1024 * 1024

/** The header the page sends its token in. */
export const TOKEN_HEADER = "x-sandbox-token"

/** Why a request is refused, as an HTTP status and a sentence. */
export interface Refusal {
  readonly status: number
  readonly message: string
}

/** A URL is http on a loopback name with our port. */
const isOurOrigin = (url: string, port: number): boolean => {
  try {
    const parsed = new URL(url)
    return parsed.protocol === "http:" && isLoopbackHost(parsed.hostname) && Number(parsed.port || 80) === port
  } catch {
    return false
  }
}

/** The refusal for a request that must not reach the page's handlers, or undefined when it may. */
export const checkSandboxRequest = (
  request: http.IncomingMessage,
  pathname: string,
  expected: { readonly port: number; readonly token: string }
): Refusal | undefined => {
  // "http://" + Host parses the same way as an Origin, so both go through one check.
  if (!isOurOrigin(`http://${request.headers.host ?? ""}`, expected.port)) {
    return { status: 403, message: "Forbidden: the Host header is not this sandbox page (DNS rebinding protection)." }
  }
  const origin = request.headers.origin
  if (origin !== undefined && !isOurOrigin(origin, expected.port)) {
    return { status: 403, message: "Forbidden: requests from another site are not allowed." }
  }
  if (!pathname.startsWith("/api/")) return undefined
  const token = request.headers[TOKEN_HEADER]
  if (typeof token !== "string" || !constantTimeEquals(token, expected.token)) {
    return { status: 403, message: "Forbidden: reload the sandbox page (its token is missing or from another run)." }
  }
  if (request.method === "POST" && !/^application\/json\s*(;|$)/i.test(request.headers["content-type"] ?? "")) {
    return { status: 415, message: "Unsupported media type: send JSON with content-type application/json." }
  }
  return undefined
}

/** A JSON object body, or why not: over the cap (413), not JSON (400). Stops reading at the cap. */
export const readJsonBody = (request: http.IncomingMessage, maxBytes: number = SANDBOX_LIMITS.maxBodyBytes): Promise<
  { readonly _tag: "Body"; readonly value: Record<string, unknown> } | ({ readonly _tag: "Refused" } & Refusal)
> =>
  new Promise((resolve) => {
    const tooLarge = { _tag: "Refused", status: 413, message: `Payload too large: at most ${maxBytes} bytes.` } as const
    if (Number(request.headers["content-length"] ?? 0) > maxBytes) {
      request.resume()
      return resolve(tooLarge)
    }
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        request.removeAllListeners("data")
        request.resume()
        resolve(tooLarge)
      } else {
        chunks.push(chunk)
      }
    })
    request.on("error", () => resolve({ _tag: "Refused", status: 400, message: "The request body could not be read." }))
    request.on("end", () => {
      if (size > maxBytes) return
      try {
        const value: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"))
        if (typeof value === "object" && value !== null && !Array.isArray(value)) return resolve({ _tag: "Body", value: value as Record<string, unknown> })
      } catch {
        // answered below
      }
      resolve({ _tag: "Refused", status: 400, message: "Bad request: the body must be a JSON object." })
    })
  })

/** The page with its token in a `<meta>` the page script reads. */
export const withToken = (html: string, token: string): string =>
  html.replace("<head>", `<head>\n<meta name="sandbox-token" content="${token}">`)
