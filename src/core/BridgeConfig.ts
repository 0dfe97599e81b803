/**
 * Every setting of the bridge, read once from the environment (and `.env`) with Effect `Config`.
 * Each value has a documented env name, a default and validation; secrets are `Redacted`.
 */
import { Config, ConfigProvider, Context, Effect, Layer, Option, Redacted } from "effect"
import { createHash } from "node:crypto"
import { defaultStateDir } from "./StateDir.js"
import { defaultLanguage, languageOf, languages } from "./i18n/Languages.js"

const invalid = (message: string) => Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message })))

/** A comma-separated list: "a, b,,c" → ["a","b","c"]. Empty means "not set". */
const CommaList = (name: string) =>
  Config.String(name).pipe(
    Config.withDefault(""),
    Config.map((raw) => raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0))
  )

const PositiveInt = (name: string, fallback: number) =>
  Config.Int(name).pipe(
    Config.withDefault(fallback),
    Config.mapEffect((n) =>
      n > 0 ? Effect.succeed(n) : invalid(`${name} must be a positive integer, got ${n}`)
    )
  )

const NonEmptySecret = (name: string) =>
  Config.Redacted(name).pipe(
    Config.mapEffect((secret) => Redacted.value(secret).trim() === "" ? invalid(`${name} is empty`) : Effect.succeed(secret))
  )

const BaseUrl = (name: string, fallback: string) =>
  Config.URL(name).pipe(Config.withDefault(new URL(fallback)), Config.map((url) => url.href.replace(/\/+$/, "")))

/** `LOG_LEVEL` accepts any capitalisation ("debug", "DEBUG", "Debug"). */
const LogLevelConfig = Config.String("LOG_LEVEL").pipe(
  Config.withDefault("Info"),
  Config.map((raw) => raw.trim().toLowerCase()),
  Config.mapEffect((raw) => {
    const levels = { all: "All", trace: "Trace", debug: "Debug", info: "Info", warn: "Warn", warning: "Warn", error: "Error", fatal: "Fatal", none: "None" } as const
    const level = levels[raw as keyof typeof levels]
    return level === undefined
      ? invalid(`LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, none; got "${raw}"`)
      : Effect.succeed(level)
  })
)

/** The DingTalk side: credentials, endpoints, connection policy, allowlist. */
const dingtalk = Config.all({
  clientId: Config.NonEmptyString("DINGTALK_CLIENT_ID"),
  clientSecret: NonEmptySecret("DINGTALK_CLIENT_SECRET"),
  apiUrl: BaseUrl("DINGTALK_API_URL", "https://api.dingtalk.com"),
  robotCode: Config.option(Config.NonEmptyString("DINGTALK_ROBOT_CODE")),
  reconnectBaseMs: PositiveInt("DINGTALK_RECONNECT_BASE_MS", 5_000),
  reconnectMaxAttempts: PositiveInt("DINGTALK_RECONNECT_MAX_ATTEMPTS", 10),
  reconnectJitter: Config.Boolean("DINGTALK_RECONNECT_JITTER").pipe(Config.withDefault(true)),
  healthyAfterMs: PositiveInt("DINGTALK_HEALTHY_AFTER_MS", 60_000),
  pingIntervalMs: PositiveInt("DINGTALK_PING_INTERVAL_MS", 10_000),
  deadSocketMs: PositiveInt("DINGTALK_DEAD_SOCKET_MS", 30_000),
  disconnectDrainMs: PositiveInt("DINGTALK_DISCONNECT_DRAIN_MS", 15_000),
})

/** Who may drive the agent from DingTalk. */
const access = Config.all({
  /**
   * `pairing` (default): unknown senders get a one-time code the operator approves; `allowlist`: only the
   * lists below; `open`: anyone who can message the robot (an explicit opt-out).
   */
  mode: Config.Literals(["pairing", "allowlist", "open"], "DINGTALK_ACCESS").pipe(Config.withDefault("pairing" as const)),
  allowedUsers: CommaList("DINGTALK_ALLOWED_USERS"),
  allowedConversations: CommaList("DINGTALK_ALLOWED_CONVERSATIONS"),
  /** Staff/user IDs who may run privileged chat commands and approve pairings from chat. */
  admins: CommaList("DINGTALK_ADMINS"),
})

/** What `dingtalk-mcp-server pair CODE` reads: where the pairings are (without a client ID, every robot's). */
export const PairCommandConfig = Config.all({
  clientId: Config.option(Config.NonEmptyString("DINGTALK_CLIENT_ID")),
  stateDir: Config.String("BRIDGE_STATE_DIR").pipe(Config.withDefault(defaultStateDir())),
  /** Cluster mode keeps pairings in the database. */
  databaseUrl: Config.option(NonEmptySecret("BRIDGE_DATABASE_URL")),
})

/** The OpenCode side. */
const opencode = Config.all({
  serverUrl: BaseUrl("OPENCODE_SERVER_URL", "http://127.0.0.1:4096"),
  username: Config.String("OPENCODE_SERVER_USERNAME").pipe(Config.withDefault("opencode")),
  password: Config.option(NonEmptySecret("OPENCODE_SERVER_PASSWORD")),
  turnTimeoutMs: PositiveInt("OPENCODE_TURN_TIMEOUT_MS", 600_000),
  /** The event stream is reopened after this much silence (OpenCode sends a heartbeat about every 10 s). */
  eventSilenceMs: PositiveInt("OPENCODE_EVENT_SILENCE_MS", 30_000),
})

/** The message pipeline between the two. */
const pipeline = Config.all({
  concurrency: PositiveInt("BRIDGE_CONCURRENCY", 3),
  backlog: PositiveInt("BRIDGE_BACKLOG", 1_000),
  dedupCapacity: PositiveInt("BRIDGE_DEDUP_CAPACITY", 1_000),
  dedupTtlMs: PositiveInt("BRIDGE_DEDUP_TTL_MS", 5 * 60_000),
  sessionCacheCapacity: PositiveInt("BRIDGE_SESSION_CACHE_CAPACITY", 100),
  sessionCacheTtlMs: PositiveInt("BRIDGE_SESSION_CACHE_TTL_MS", 30 * 60_000),
})

/** Reply delivery limits. */
const delivery = Config.all({
  maxMessageBytes: PositiveInt("DINGTALK_MAX_MESSAGE_BYTES", 20_000),
  rateLimit: PositiveInt("DINGTALK_RATE_LIMIT", 20),
  rateWindowMs: PositiveInt("DINGTALK_RATE_WINDOW_MS", 60_000),
  rateLimitKey: Config.Literals(["robot", "conversation"], "DINGTALK_RATE_LIMIT_KEY").pipe(Config.withDefault("robot" as const)),
  throttleRetryMs: PositiveInt("DINGTALK_THROTTLE_RETRY_MS", 5_000),
  httpMaxSockets: PositiveInt("DINGTALK_HTTP_MAX_SOCKETS", 10),
  httpKeepAlive: Config.Boolean("DINGTALK_HTTP_KEEP_ALIVE").pipe(Config.withDefault(true)),
  httpTimeoutMs: PositiveInt("DINGTALK_HTTP_TIMEOUT_MS", 10_000),
  httpRetries: Config.Int("DINGTALK_HTTP_RETRIES").pipe(Config.withDefault(2)),
  shutdownGraceMs: PositiveInt("DINGTALK_SHUTDOWN_GRACE_MS", 10_000),
})

/** Live answers in DingTalk AI cards. */
const cards = Config.all({
  /** `on` (default): a turn's answer streams into an AI card; `off`: one markdown reply at the end. */
  enabled: Config.Literals(["on", "off"], "DINGTALK_CARDS").pipe(Config.withDefault("on" as const), Config.map((v) => v === "on")),
  templateId: Config.String("DINGTALK_CARD_TEMPLATE_ID").pipe(Config.withDefault("02fcf2f4-5e02-4a85-b672-46d1f715543e.schema")),
  /** The template's streaming variable. */
  contentKey: Config.String("DINGTALK_CARD_CONTENT_KEY").pipe(Config.withDefault("msgContent")),
  /** At most one card update per card this often; never below 200 ms. */
  updateMs: PositiveInt("DINGTALK_CARD_UPDATE_MS", 1_000).pipe(Config.map((ms) => Math.max(200, ms))),
  /** After a card failure (no permission, QPS limit, 5xx) cards stay off this long; answers go as markdown. */
  pauseMs: PositiveInt("DINGTALK_CARD_PAUSE_MS", 30 * 60_000),
  /** A card holds this much answer text (UTF-8 bytes); the rest continues as markdown messages. */
  maxBytes: PositiveInt("DINGTALK_CARD_MAX_BYTES", 16_000),
  /** Card API calls per second, per API, shared by all conversations. */
  qps: PositiveInt("DINGTALK_CARD_QPS", 20),
  /** Without cards, a turn running this long gets one progress message (at most one per chat per 5 minutes). */
  progressAfterMs: PositiveInt("BRIDGE_PROGRESS_AFTER_MS", 60_000),
})

/** This process among others of the same robot. */
const instance = Config.all({
  /** One process per client ID owns the DingTalk connection; the others forward their MCP tool calls to it. */
  singleOwner: Config.Boolean("BRIDGE_SINGLE_OWNER").pipe(Config.withDefault(true)),
  stateDir: Config.String("BRIDGE_STATE_DIR").pipe(Config.withDefault(defaultStateDir())),
})

/** Cluster mode (several hosts, one robot): on when `BRIDGE_DATABASE_URL` is set. */
const cluster = Config.all({
  /** A PostgreSQL URL: messages, conversations and the reply budget shared by every instance. */
  databaseUrl: Config.option(NonEmptySecret("BRIDGE_DATABASE_URL")),
  /** The address the other runners reach this one on. */
  runnerHost: Config.String("BRIDGE_RUNNER_HOST").pipe(Config.withDefault("localhost")),
  runnerPort: Config.Port("BRIDGE_RUNNER_PORT").pipe(Config.withDefault(34431)),
  /** How long a dead runner's conversations wait before another runner takes them (Effect Cluster's shard lock). */
  shardLockExpirationMs: PositiveInt("BRIDGE_SHARD_LOCK_EXPIRATION_MS", 35_000),
  /**
   * `runner` (default): a DingTalk connection and a share of the conversations. `client`: MCP tools only
   * (e.g. launched by OpenCode on a host without a runner): no connection, no conversations hosted.
   */
  role: Config.Literals(["runner", "client"], "BRIDGE_CLUSTER_ROLE").pipe(Config.withDefault("runner" as const)),
}).pipe(
  Config.mapEffect((settings) =>
    settings.role === "client" && Option.isNone(settings.databaseUrl)
      ? invalid("BRIDGE_CLUSTER_ROLE=client joins a cluster, so BRIDGE_DATABASE_URL must be set too.")
      : Effect.succeed(settings)
  )
)

/** Loopback names and addresses: only these may serve MCP over HTTP without a token. */
export const isLoopbackHost = (host: string): boolean => /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/i.test(host.trim())

/** MCP over Streamable HTTP on the owner, when a port is set. */
const mcpHttp = Config.all({
  port: Config.option(Config.Port("MCP_HTTP_PORT")),
  host: Config.String("MCP_HTTP_HOST").pipe(Config.withDefault("127.0.0.1")),
  token: Config.option(NonEmptySecret("MCP_HTTP_TOKEN")),
}).pipe(
  // The tools drive the robot: serving them beyond this machine without a token would hand it to the network.
  Config.mapEffect((settings) =>
    Option.isSome(settings.port) && Option.isNone(settings.token) && !isLoopbackHost(settings.host)
      ? invalid(`MCP_HTTP_HOST=${settings.host} is not a loopback address, so MCP_HTTP_TOKEN must be set (or bind MCP_HTTP_HOST to 127.0.0.1).`)
      : Effect.succeed(settings)
  )
)

/** The sandbox chat page (sandbox mode only). */
const sandbox = Config.all({
  port: Config.Port("SANDBOX_PORT").pipe(Config.withDefault(8780)),
})

/** What chat users read: `BRIDGE_LANGUAGE` picks the message catalogue (src/core/i18n/). */
const chat = Config.all({
  language: Config.String("BRIDGE_LANGUAGE").pipe(
    Config.withDefault(defaultLanguage),
    Config.mapEffect((raw) => {
      // Empty (`BRIDGE_LANGUAGE=` in .env) means the default.
      const language = raw.trim() === "" ? defaultLanguage : languageOf(raw)
      return language === undefined ? invalid(`BRIDGE_LANGUAGE must be one of ${languages.join(", ")}; got "${raw}"`) : Effect.succeed(language)
    })
  ),
})

/** Permission requests and questions of the agent, answered from chat. */
const interactive = Config.all({
  /** An unanswered request is rejected after this long (the agent and the user are told why). */
  permissionTimeoutMs: PositiveInt("BRIDGE_PERMISSION_TIMEOUT_MS", 15 * 60_000),
  /** An interactive card template with allow/always/reject buttons; unset = typed answers only. */
  actionCardTemplateId: Config.option(Config.NonEmptyString("DINGTALK_ACTION_CARD_TEMPLATE_ID")),
})

/** Pictures, files and voice in both directions. */
const media = Config.all({
  /** Attachments larger than this are refused (nothing is written). */
  maxAttachmentBytes: PositiveInt("BRIDGE_MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024),
  /** Where received files are saved, one folder per conversation; relative paths are inside OpenCode's working directory. */
  attachmentsDir: Config.String("BRIDGE_ATTACHMENTS_DIR").pipe(Config.withDefault(".dingtalk/attachments")),
  /** Folders `dingtalk_send_file` may read from; empty: the attachments folder and OpenCode's working directory. */
  sendFileDirs: CommaList("BRIDGE_SEND_FILE_DIRS"),
  /** The legacy API host that takes media uploads (`/media/upload`). */
  oapiUrl: BaseUrl("DINGTALK_OAPI_URL", "https://oapi.dingtalk.com"),
})

/** Logging. */
const logging = Config.all({
  level: LogLevelConfig,
  format: Config.Literals(["pretty", "json"], "LOG_FORMAT").pipe(Config.withDefault("pretty" as const)),
})

/** The whole configuration, as one value. */
export const BridgeConfigSchema = Config.all({ dingtalk, access, opencode, pipeline, delivery, cards, instance, cluster, mcpHttp, sandbox, chat, logging, media, interactive })

/** The parsed configuration. */
export type BridgeSettings = Config.Success<typeof BridgeConfigSchema>

/** The robot code used for OpenAPI sends and cache keys: `DINGTALK_ROBOT_CODE`, else the client ID. */
export const robotCodeOf = (settings: BridgeSettings): string => Option.getOrElse(settings.dingtalk.robotCode, () => settings.dingtalk.clientId)

/** HTTP Basic `Authorization` header for OpenCode, when a password is configured. */
export const openCodeAuthHeader = (settings: BridgeSettings): Option.Option<string> =>
  Option.map(settings.opencode.password, (password) =>
    `Basic ${Buffer.from(`${settings.opencode.username}:${Redacted.value(password)}`).toString("base64")}`)

/** A hash of who may drive the agent (mode, sorted allowlists, admins): every instance of one robot must agree on it. */
export const accessPolicyFingerprint = (settings: BridgeSettings): string => {
  const { mode, allowedUsers, allowedConversations, admins } = settings.access
  const sorted = (list: ReadonlyArray<string>) => [...new Set(list)].sort()
  return createHash("sha256").update(JSON.stringify([mode, sorted(allowedUsers), sorted(allowedConversations), sorted(admins)])).digest("hex").slice(0, 16)
}

/** The access policy in a few words for logs (counts, not IDs). */
export const describeAccessPolicy = (settings: BridgeSettings): string => {
  const { mode, allowedUsers, allowedConversations, admins } = settings.access
  return `DINGTALK_ACCESS=${mode}, ${allowedUsers.length} allowed user(s), ${allowedConversations.length} allowed conversation(s), ${admins.length} admin(s)`
}

/** The bridge configuration as a service, so tests and embedders can provide their own. */
export class BridgeConfig extends Context.Service<BridgeConfig, BridgeSettings>()("dingtalk-mcp-server/BridgeConfig") {
  /** Reads the configuration from the current `ConfigProvider` (the environment by default). */
  static readonly layer = Layer.effect(BridgeConfig, BridgeConfigSchema)
  /** A fixed configuration, e.g. for tests: missing values fall back to their defaults. */
  static readonly layerFrom = (env: Record<string, string>) =>
    Layer.effect(BridgeConfig, BridgeConfigSchema.parse(ConfigProvider.fromUnknown(env)))
}

/**
 * Every variable this file reads: a `.env` key with a DINGTALK_/BRIDGE_/MCP_/OPENCODE_ prefix that is not
 * here is refused as a typo (src/core/EnvFile.ts). Add a new variable here when you add it above
 * (test/core/EnvFile.test.ts checks that every name in this file is listed).
 */
export const CONFIG_VARIABLES: ReadonlyArray<string> = [
  "DINGTALK_CLIENT_ID", "DINGTALK_CLIENT_SECRET", "DINGTALK_API_URL", "DINGTALK_ROBOT_CODE",
  "DINGTALK_RECONNECT_BASE_MS", "DINGTALK_RECONNECT_MAX_ATTEMPTS", "DINGTALK_RECONNECT_JITTER", "DINGTALK_HEALTHY_AFTER_MS",
  "DINGTALK_PING_INTERVAL_MS", "DINGTALK_DEAD_SOCKET_MS", "DINGTALK_DISCONNECT_DRAIN_MS",
  "DINGTALK_ACCESS", "DINGTALK_ALLOWED_USERS", "DINGTALK_ALLOWED_CONVERSATIONS", "DINGTALK_ADMINS",
  "OPENCODE_SERVER_URL", "OPENCODE_SERVER_USERNAME", "OPENCODE_SERVER_PASSWORD", "OPENCODE_TURN_TIMEOUT_MS", "OPENCODE_EVENT_SILENCE_MS",
  "BRIDGE_CONCURRENCY", "BRIDGE_BACKLOG", "BRIDGE_DEDUP_CAPACITY", "BRIDGE_DEDUP_TTL_MS", "BRIDGE_SESSION_CACHE_CAPACITY",
  "BRIDGE_SESSION_CACHE_TTL_MS",
  "DINGTALK_MAX_MESSAGE_BYTES", "DINGTALK_RATE_LIMIT", "DINGTALK_RATE_WINDOW_MS", "DINGTALK_RATE_LIMIT_KEY",
  "DINGTALK_THROTTLE_RETRY_MS", "DINGTALK_HTTP_MAX_SOCKETS", "DINGTALK_HTTP_KEEP_ALIVE", "DINGTALK_HTTP_TIMEOUT_MS",
  "DINGTALK_HTTP_RETRIES", "DINGTALK_SHUTDOWN_GRACE_MS",
  "BRIDGE_SINGLE_OWNER", "BRIDGE_STATE_DIR",
  "BRIDGE_DATABASE_URL", "BRIDGE_RUNNER_HOST", "BRIDGE_RUNNER_PORT", "BRIDGE_SHARD_LOCK_EXPIRATION_MS", "BRIDGE_CLUSTER_ROLE",
  "MCP_HTTP_PORT", "MCP_HTTP_HOST", "MCP_HTTP_TOKEN",
  "SANDBOX_PORT", "LOG_LEVEL", "LOG_FORMAT",
  "DINGTALK_CARDS", "DINGTALK_CARD_TEMPLATE_ID", "DINGTALK_CARD_CONTENT_KEY", "DINGTALK_CARD_UPDATE_MS", "DINGTALK_CARD_PAUSE_MS",
  "DINGTALK_CARD_MAX_BYTES", "DINGTALK_CARD_QPS", "BRIDGE_PROGRESS_AFTER_MS",
  "BRIDGE_MAX_ATTACHMENT_BYTES", "BRIDGE_ATTACHMENTS_DIR", "BRIDGE_SEND_FILE_DIRS", "DINGTALK_OAPI_URL",
  "BRIDGE_PERMISSION_TIMEOUT_MS", "DINGTALK_ACTION_CARD_TEMPLATE_ID",
  "BRIDGE_LANGUAGE",
]
