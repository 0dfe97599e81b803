/**
 * `dingtalk-mcp-server doctor`: the set-up checks a first run with a real robot needs, in order, one line
 * each as it runs, with what to do when one fails. Exit 0 only when every check passes; otherwise the exit
 * code of the first failure (see `DoctorExit`).
 */
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { spawn } from "node:child_process"
import { accessSync, constants, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import path from "node:path"
import { BridgeConfig, type BridgeSettings, robotCodeOf } from "../core/BridgeConfig.js"
import { BridgeMetrics } from "../core/BridgeMetrics.js"
import { AccessToken } from "../dingtalk/AccessToken.js"
import { DingTalkHttp } from "../dingtalk/DingTalkHttp.js"
import { StreamClient } from "../dingtalk/StreamClient.js"
import { OpenCodeClient, textPrompt } from "../opencode/OpenCodeClient.js"

/** Exit codes of `doctor`, one per kind of set-up mistake (documented in the README). */
export const DoctorExit = {
  ok: 0,
  config: 3,
  credentials: 4,
  gateway: 5,
  cards: 6,
  opencodeUnreachable: 7,
  opencodeAuth: 8,
  model: 9,
  mcpStdio: 10,
  stateDir: 11,
  node: 12,
} as const

/** What one check found. */
export interface CheckOutcome {
  readonly status: "pass" | "fail" | "warn" | "skip"
  readonly detail: string
  /** What to do about a failure or warning. */
  readonly fix?: string
}

const pass = (detail: string): CheckOutcome => ({ status: "pass", detail })
const fail = (detail: string, fix: string): CheckOutcome => ({ status: "fail", detail, fix })
const warn = (detail: string, fix: string): CheckOutcome => ({ status: "warn", detail, fix })
const skip = (detail: string): CheckOutcome => ({ status: "skip", detail })

const GatewayAnswer = Schema.Struct({ endpoint: Schema.String, ticket: Schema.String })
const MCP_INIT_TIMEOUT_MS = 15_000
const MODEL_TIMEOUT_MS = 60_000

/** The services the checks after configuration use. */
const servicesLayer = Layer.mergeAll(AccessToken.layer, OpenCodeClient.layer).pipe(
  Layer.provideMerge(DingTalkHttp.layer),
  Layer.provideMerge(BridgeMetrics.layer)
)

const line = (write: (text: string) => void, title: string, outcome: CheckOutcome) => {
  const mark = { pass: "✔", fail: "✘", warn: "!", skip: "-" }[outcome.status]
  write(`${mark} ${title.padEnd(22)} ${outcome.detail}\n`)
  if (outcome.fix !== undefined) write(`  → ${outcome.fix}\n`)
}

/** Opens one Stream connection with a fresh ticket, then closes it. */
const openStream = (settings: BridgeSettings) =>
  Effect.gen(function*() {
    const http = yield* DingTalkHttp
    const answer = yield* http.postJson(`${settings.dingtalk.apiUrl}/v1.0/gateway/connections/open`, {
      clientId: settings.dingtalk.clientId,
      clientSecret: Redacted.value(settings.dingtalk.clientSecret),
      ua: "dingtalk-mcp-server doctor",
      localIp: "",
      subscriptions: [{ type: "CALLBACK", topic: "/v1.0/im/bot/messages/get" }],
    }, { retries: 0 })
    if (answer.status !== 200) {
      return fail(`the gateway answered HTTP ${answer.status}`, "Switch the robot's message receiving mode to Stream on open-dev.dingtalk.com and publish the app version.")
    }
    const gateway = Schema.decodeUnknownOption(GatewayAnswer)(answer.body)
    if (Option.isNone(gateway)) return fail("the gateway answer has no endpoint or ticket", "Check DINGTALK_API_URL.")
    const client = new StreamClient({ clientId: settings.dingtalk.clientId, clientSecret: Redacted.value(settings.dingtalk.clientSecret), ua: "doctor" }, {
      onCallback: () => undefined,
      onDisconnectNotice: () => undefined,
      onMalformedFrame: () => undefined,
    })
    return yield* Effect.tryPromise(() => client.open(gateway.value.endpoint, gateway.value.ticket)).pipe(
      Effect.timeout("15 seconds"),
      Effect.ensuring(Effect.sync(() => client.close())),
      Effect.as(pass("a Stream connection opened")),
      Effect.orElseSucceed(() => fail("the WebSocket did not open", "Allow outbound wss:// to wss-open-connection.dingtalk.com:443 (firewall, proxy)."))
    )
  })

/** A dry card call: DingTalk answers 403 AccessTokenPermissionDenied when the app lacks the card scopes. */
const cardPermission = (settings: BridgeSettings) =>
  Effect.gen(function*() {
    const http = yield* DingTalkHttp
    const token = yield* AccessToken.use((tokens) => tokens.get)
    const answer = yield* http.postJson(`${settings.dingtalk.apiUrl}/v1.0/card/instances`, {
      outTrackId: `doctor-probe-${Date.now()}`,
      cardData: { cardParamMap: {} },
    }, { retries: 0, method: "PUT", headers: { "x-acs-dingtalk-access-token": Redacted.value(token) } })
    const code = typeof answer.body === "object" && answer.body !== null ? String((answer.body as { code?: unknown }).code ?? "") : ""
    if (answer.status === 403 && code.includes("PermissionDenied")) {
      return fail("the app may not write AI cards", "Grant Card.Instance.Write and Card.Streaming.Write to the app (or set DINGTALK_CARDS=off to answer in plain messages).")
    }
    return pass(`granted (a probe for an unknown card answered HTTP ${answer.status})`)
  })

/** Spawns this very command and checks that stdout carries nothing but the answer to `initialize`. */
const mcpStdio = Effect.callback<CheckOutcome>((resume) => {
  const script = process.argv[1]
  if (script === undefined) return resume(Effect.succeed(skip("cannot tell which script to start")))
  const child = spawn(process.execPath, [script], { stdio: ["pipe", "pipe", "ignore"], env: process.env })
  let stdout = ""
  const done = (outcome: CheckOutcome) => {
    clearTimeout(timer)
    child.kill("SIGKILL")
    resume(Effect.succeed(outcome))
  }
  const timer = setTimeout(() => done(fail(`no answer to initialize within ${MCP_INIT_TIMEOUT_MS / 1000} s`, "Run `node dist/main.js` by hand and read its stderr.")), MCP_INIT_TIMEOUT_MS)
  child.stdout.on("data", (chunk) => {
    stdout += chunk
    const lines = stdout.split("\n")
    if (lines.length < 2) return
    const first = lines[0]!
    let message: { jsonrpc?: unknown; id?: unknown; result?: { serverInfo?: { name?: unknown } } }
    try {
      message = JSON.parse(first)
    } catch {
      return done(fail(`stdout carried a non-JSON line: ${first.slice(0, 60)}`, "Something prints to stdout; MCP clients will drop the connection."))
    }
    done(message.jsonrpc === "2.0" && message.id === 1
      ? pass(`initialize answered by ${String(message.result?.serverInfo?.name ?? "the server")}, stdout clean`)
      : fail("the first stdout line is not the answer to initialize", "Something prints to stdout; MCP clients will drop the connection."))
  })
  child.on("error", (error) => done(fail(`could not start: ${error.message}`, "Check that dist/main.js exists (npm install builds it).")))
  child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "doctor", version: "1" } } })}\n`)
  return Effect.sync(() => {
    clearTimeout(timer)
    child.kill("SIGKILL")
  })
})

/** The state dir exists (or can be made) with mode 0700 and is writable. */
const stateDir = (dir: string): CheckOutcome => {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    accessSync(dir, constants.W_OK)
    const probe = path.join(dir, `.doctor-${process.pid}`)
    writeFileSync(probe, "", { mode: 0o600 })
    rmSync(probe)
    const mode = statSync(dir).mode & 0o777
    if ((mode & 0o077) !== 0) return fail(`${dir} has mode ${mode.toString(8)}`, `chmod 700 ${dir} (it holds webhook URLs, which are credentials).`)
    return pass(`${dir} (mode 700, writable)`)
  } catch (error) {
    return fail(`${dir} is not usable: ${error instanceof Error ? error.message : String(error)}`, "Set BRIDGE_STATE_DIR to a folder this user can write.")
  }
}

const accessPolicy = (settings: BridgeSettings): CheckOutcome => {
  const { mode, allowedUsers, allowedConversations, admins } = settings.access
  const lists = `${allowedUsers.length} allowed user(s), ${allowedConversations.length} conversation(s), ${admins.length} admin(s)`
  if (mode === "open") return warn(`open: anyone who can message the robot drives the agent (${lists})`, "Use DINGTALK_ACCESS=pairing (the default) or allowlist unless the robot is private.")
  if (mode === "allowlist" && allowedUsers.length + allowedConversations.length + admins.length === 0) {
    return warn("allowlist with empty lists: nobody can use the robot", "Set DINGTALK_ALLOWED_USERS, DINGTALK_ALLOWED_CONVERSATIONS or DINGTALK_ADMINS.")
  }
  return pass(`${mode} (${lists})`)
}

/**
 * Runs every check in order, writing one line each (and a fix for failures) with `write`; returns the exit
 * code. `config` is the parsed configuration, or the one-line reason it could not be parsed.
 */
export const runDoctor = (config: Effect.Effect<BridgeSettings, string>, write: (text: string) => void) =>
  Effect.gen(function*() {
    let exitCode: number = DoctorExit.ok
    const report = (title: string, outcome: CheckOutcome, code: number) => {
      line(write, title, outcome)
      if (outcome.status === "fail" && exitCode === DoctorExit.ok) exitCode = code
      return outcome
    }
    const major = Number(process.versions.node.split(".")[0])
    report("Node.js", major >= 22 ? pass(process.version) : fail(`${process.version} is older than 22`, "Install Node 22 or newer, or run npm install (it pins Node 22)."), DoctorExit.node)

    const parsed = yield* Effect.result(config)
    if (parsed._tag === "Failure") {
      report("Configuration", fail(parsed.failure, "Fix the variable named above (environment, .env, or --env-file)."), DoctorExit.config)
      return exitCode
    }
    const settings = parsed.success
    report("Configuration", pass(`DingTalk ${settings.dingtalk.apiUrl}, OpenCode ${new URL(settings.opencode.serverUrl).origin}`), DoctorExit.config)

    yield* Effect.gen(function*() {
      const token = yield* AccessToken.use((tokens) => tokens.get).pipe(Effect.result)
      const credentialsOk = token._tag === "Success"
      report("Credentials", credentialsOk ? pass("an access token was issued") : fail(token.failure.message, "Copy the AppKey and AppSecret of the robot app into DINGTALK_CLIENT_ID / DINGTALK_CLIENT_SECRET."), DoctorExit.credentials)
      report("Stream connection", credentialsOk ? yield* openStream(settings).pipe(Effect.catch((error) => Effect.succeed(fail(error.message, "Check the network path to DingTalk.")))) : skip("needs valid credentials"), DoctorExit.gateway)
      const robotCode = robotCodeOf(settings)
      report("Robot code", robotCode === settings.dingtalk.clientId ? pass(`${robotCode} (the client ID, as for an internal app robot)`) : pass(`${robotCode} (DINGTALK_ROBOT_CODE)`), DoctorExit.credentials)
      report("Card permission", !settings.cards.enabled ? skip("DINGTALK_CARDS=off: answers go as markdown messages") : credentialsOk ? yield* cardPermission(settings).pipe(Effect.catch((error) => Effect.succeed(fail(error.message, "Check the network path to DingTalk.")))) : skip("needs valid credentials"), DoctorExit.cards)

      const opencode = yield* OpenCodeClient
      const health = yield* opencode.health.pipe(Effect.result)
      if (health._tag === "Failure" && health.failure._tag === "OpenCodeUnreachable") {
        report("OpenCode", fail(`not reachable at ${new URL(opencode.url).origin}`, "Start it with `opencode serve --port 4096`, or set OPENCODE_SERVER_URL."), DoctorExit.opencodeUnreachable)
        report("OpenCode model", skip("needs OpenCode"), DoctorExit.model)
      } else if (health._tag === "Failure" && health.failure._tag === "OpenCodeRequestFailed" && health.failure.status === 401) {
        report("OpenCode", fail("the server refused the credentials (HTTP 401)", "Set OPENCODE_SERVER_USERNAME / OPENCODE_SERVER_PASSWORD to the ones `opencode serve` uses."), DoctorExit.opencodeAuth)
        report("OpenCode model", skip("needs OpenCode"), DoctorExit.model)
      } else {
        const version = health._tag === "Success" ? health.success.version ?? "unknown version" : "no version (health check failed)"
        const auth = yield* opencode.listSessions.pipe(Effect.result)
        if (auth._tag === "Failure") {
          report("OpenCode", fail(auth.failure.message, "Set OPENCODE_SERVER_USERNAME / OPENCODE_SERVER_PASSWORD to the ones `opencode serve` uses."), DoctorExit.opencodeAuth)
        } else {
          report("OpenCode", pass(`reachable, credentials accepted, ${version}`), DoctorExit.opencodeUnreachable)
          report("OpenCode model", yield* modelAnswers, DoctorExit.model)
        }
      }
    }).pipe(Effect.provide(servicesLayer.pipe(Layer.provide(Layer.succeed(BridgeConfig, settings)))))

    report("MCP over stdio", yield* mcpStdio, DoctorExit.mcpStdio)
    report("State directory", stateDir(settings.instance.stateDir), DoctorExit.stateDir)
    report("Access policy", accessPolicy(settings), DoctorExit.ok)
    write(exitCode === DoctorExit.ok ? "\nAll checks passed.\n" : `\nA check failed (exit code ${exitCode}).\n`)
    return exitCode
  })

/** Asks the configured model for a one-word answer in a throwaway session. */
const modelAnswers = Effect.gen(function*() {
  const opencode = yield* OpenCodeClient
  const session = yield* opencode.createSession("dingtalk-mcp-server doctor")
  return yield* opencode.prompt(session.id, textPrompt("Reply with the word OK.")).pipe(
    Effect.timeout(MODEL_TIMEOUT_MS),
    Effect.map((result) => result._tag === "Answered" ? pass(`the configured model answered (${result.text.trim().slice(0, 30) || "no text"})`) : fail("the turn was aborted", "Try again.")),
    Effect.ensuring(opencode.deleteSession(session.id).pipe(Effect.ignore))
  )
}).pipe(Effect.catch((error) => Effect.succeed(fail(error.message, "Check the model in opencode.json and its provider's key (`opencode run hello`)."))))
