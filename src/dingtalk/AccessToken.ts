/**
 * The robot OpenAPI access token: fetched from `/v1.0/oauth2/accessToken`, cached (Effect `Cache`)
 * until shortly before it expires, with at most one refresh in flight; forgotten when DingTalk rejects it.
 */
import { Cache, Context, Data, Duration, Effect, Exit, Layer, Predicate, Redacted, Schema } from "effect"
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

/** DingTalk refused the access token of a call (HTTP 401 or a token errcode); the caller has invalidated it. */
export class TokenRejected extends Data.TaggedError("TokenRejected")<{ readonly detail: string }> {}

const isTokenRejected = (error: unknown): error is TokenRejected => Predicate.isTagged(error, "TokenRejected")

/** Runs `attempt` once more after a `TokenRejected` (with the fresh token it fetches); a second one becomes `rejectedTwice`. */
export const retryWithFreshToken = <A, E, R, E2>(attempt: Effect.Effect<A, E | TokenRejected, R>, rejectedTwice: (error: TokenRejected) => E2) =>
  attempt.pipe(
    Effect.retry({ times: 1, while: isTokenRejected }),
    Effect.catchIf(isTokenRejected, (error) => Effect.fail(rejectedTwice(error)))
  )

const TokenAnswer = Schema.Struct({ accessToken: Schema.NonEmptyString, expireIn: Schema.Number })

/** Refresh this long before DingTalk's expiry, so a token never dies in flight. */
const REFRESH_MARGIN_MS = 5 * 60_000

/** A token and how long it may be used. */
interface Issued {
  readonly token: Redacted.Redacted<string>
  readonly usableFor: Duration.Duration
}

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

      const fetchToken = Effect.fn("AccessToken.fetch")(function*(_: "robot") {
        const answer = yield* http.postJson(`${settings.dingtalk.apiUrl}/v1.0/oauth2/accessToken`, {
          appKey: settings.dingtalk.clientId,
          appSecret: Redacted.value(settings.dingtalk.clientSecret),
        })
        const decoded = yield* Schema.decodeUnknownEffect(TokenAnswer)(answer.body).pipe(
          Effect.mapError(() => new AccessTokenFailed({ status: answer.status, detail: JSON.stringify(answer.body ?? null).slice(0, 200) }))
        )
        return { token: Redacted.make(decoded.accessToken), usableFor: Duration.millis(Math.max(0, decoded.expireIn * 1000 - REFRESH_MARGIN_MS)) } satisfies Issued
      })

      // One entry; concurrent callers share the one lookup in flight. Failures are not cached.
      const cache = yield* Cache.makeWith(fetchToken, {
        capacity: 1,
        timeToLive: (exit) => (Exit.isSuccess(exit) ? exit.value.usableFor : Duration.zero),
      })

      const get = Effect.fn("AccessToken.get")(function*() {
        return (yield* Cache.get(cache, "robot")).token
      })
      const invalidate = Effect.fn("AccessToken.invalidate")(function*() {
        yield* Cache.invalidate(cache, "robot")
      })
      return AccessToken.of({ get: get(), invalidate: invalidate() })
    })
  )
}
