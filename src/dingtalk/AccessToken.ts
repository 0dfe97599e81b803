/**
 * The robot OpenAPI access token: fetched from `/v1.0/oauth2/accessToken`, cached until shortly
 * before it expires, with at most one refresh in flight.
 */
import { Clock, Context, Effect, Layer, Redacted, Schema, Semaphore } from "effect"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { DingTalkHttp, type DingTalkUnreachable } from "./DingTalkHttp.js"

/** DingTalk would not give us a token (wrong credentials, or no answer). */
export class AccessTokenFailed extends Schema.TaggedError<AccessTokenFailed>()("AccessTokenFailed", {
  status: Schema.Number,
  detail: Schema.String,
}) {
  override get message() {
    return `DingTalk refused an access token (HTTP ${this.status}: ${this.detail}); check DINGTALK_CLIENT_ID / DINGTALK_CLIENT_SECRET.`
  }
}

const TokenAnswer = Schema.Struct({ accessToken: Schema.NonEmptyString, expireIn: Schema.Number })

/** Refresh this long before DingTalk's expiry, so a token never dies in flight. */
const REFRESH_MARGIN_MS = 5 * 60_000

/** The OpenAPI access token. */
export class AccessToken extends Context.Service<AccessToken, {
  readonly get: Effect.Effect<Redacted.Redacted<string>, AccessTokenFailed | DingTalkUnreachable>
  /** Forget the cached token (after DingTalk rejected it). */
  readonly invalidate: Effect.Effect<void>
}>()("dingtalk-mcp-server/AccessToken") {
  /** Tokens from the configured `DINGTALK_API_URL`. */
  static readonly layer = Layer.effect(
    AccessToken,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const http = yield* DingTalkHttp
      const lock = yield* Semaphore.make(1)
      let cached: { readonly token: Redacted.Redacted<string>; readonly refreshAt: number } | undefined

      const fetchToken = Effect.gen(function*() {
        const answer = yield* http.postJson(`${settings.dingtalk.apiUrl}/v1.0/oauth2/accessToken`, {
          appKey: settings.dingtalk.clientId,
          appSecret: Redacted.value(settings.dingtalk.clientSecret),
        })
        const decoded = yield* Schema.decodeUnknownEffect(TokenAnswer)(answer.body).pipe(
          Effect.mapError(() => new AccessTokenFailed({ status: answer.status, detail: JSON.stringify(answer.body ?? null).slice(0, 200) }))
        )
        const now = yield* Clock.currentTimeMillis
        cached = { token: Redacted.make(decoded.accessToken), refreshAt: now + Math.max(0, decoded.expireIn * 1000 - REFRESH_MARGIN_MS) }
        return cached.token
      })

      // Waiting on the lock makes concurrent callers share the one refresh.
      const get = Semaphore.withPermit(lock, Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (cached !== undefined && now < cached.refreshAt) return cached.token
        return yield* fetchToken
      })).pipe(Effect.withSpan("AccessToken.get"))

      return AccessToken.of({ get, invalidate: Effect.sync(() => { cached = undefined }) })
    })
  )
}
