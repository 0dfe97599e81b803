/**
 * The life of one instance: own the robot (DingTalk connection, pipeline, and the tool calls of the
 * other instances), or follow the owner (forward tool calls to it) until it goes, then try again.
 * The access policy follows the robot, not the process: an instance whose policy differs from the
 * owner's never takes over; it keeps answering its tool calls with the reason.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { ConnectionFatal } from "../dingtalk/DingTalkStream.js"
import { accessPolicyFingerprint, BridgeConfig, describeAccessPolicy } from "../core/BridgeConfig.js"
import { prepareStateDir, type StateDirUnusable } from "../core/StateDir.js"
import { serveMcpHttp } from "../mcp/McpHttp.js"
import { localDispatch, type ToolDispatch, type ToolServices } from "../mcp/McpServer.js"
import { apiUrlWarning } from "../dingtalk/OutboundPolicy.js"
import { Bridge } from "../pipeline/Bridge.js"
import { acquire, type ControlSocketFailed, type Hello } from "./ControlSocket.js"

/** Why this instance will not take the robot over from an owner configured differently. */
const policyMismatch = (mine: string, owner: Hello) =>
  `This process's access policy (${mine}) differs from that of the process that owns the DingTalk connection ` +
  `(pid ${owner.pid}: ${owner.summary}), so it will not take the robot over when that process exits. ` +
  "Give every instance of this robot the same DINGTALK_ACCESS, DINGTALK_ALLOWED_USERS, DINGTALK_ALLOWED_CONVERSATIONS and DINGTALK_ADMINS (e.g. in the OpenCode MCP config), then restart it."

/** Runs the bridge as owner, or follows the owner; returns only by failing with a fatal error. */
export const runAsOwnerOrFollower = <E, R>(
  bridgeLayer: Layer.Layer<Bridge | ToolServices, E, R>,
  route: (dispatch: ToolDispatch) => Effect.Effect<void>,
  /** Logged once the start can go on (after a start-up failure, its one line is all stderr says). */
  summary?: string
): Effect.Effect<never, E | ConnectionFatal | StateDirUnusable | ControlSocketFailed, R | BridgeConfig> =>
  Effect.gen(function*() {
    const settings = yield* BridgeConfig
    yield* prepareStateDir(settings.instance.stateDir)
    if (summary !== undefined) yield* Effect.logInfo(summary)
    const insecureApi = apiUrlWarning(settings.dingtalk.apiUrl)
    if (insecureApi !== undefined) yield* Effect.logWarning(insecureApi)

    const own = (onOwned: (dispatch: ToolDispatch) => Effect.Effect<void>) =>
      Effect.scoped(Effect.gen(function*() {
        // The app's own context (logger, log level, tracer) with the bridge's services on top, for tool and HTTP calls.
        const context = Context.merge(yield* Effect.context<R | BridgeConfig>(), yield* Layer.build(bridgeLayer))
        const dispatch = localDispatch(context)
        yield* serveMcpHttp(dispatch).pipe(Effect.provideService(BridgeConfig, settings), Effect.provideContext(context))
        yield* onOwned(dispatch)
        yield* route(dispatch)
        return yield* Bridge.use((bridge) => bridge.run).pipe(Effect.provideContext(context))
      }))

    // An MCP-only cluster client holds no robot: it never takes part in the election (nor blocks a runner's).
    if (!settings.instance.singleOwner || (Option.isSome(settings.cluster.databaseUrl) && settings.cluster.role === "client")) return yield* own(() => Effect.void)

    const policy = { fingerprint: accessPolicyFingerprint(settings), summary: describeAccessPolicy(settings) }
    // Set once an owner with another policy was seen: from then on this process only follows.
    let refusal: string | undefined

    return yield* Effect.forever(Effect.scoped(Effect.gen(function*() {
      const role = yield* acquire({ stateDir: settings.instance.stateDir, clientId: settings.dingtalk.clientId, policy, mayOwn: refusal === undefined })
      if (role._tag === "Owner") {
        yield* Effect.logInfo(`This process (pid ${process.pid}) owns the DingTalk connection`)
        return yield* own(role.serve)
      }
      yield* route(role.call)
      if (role.owner.fingerprint !== policy.fingerprint) {
        refusal = policyMismatch(policy.summary, role.owner)
        yield* Effect.logError(refusal)
      } else {
        refusal = undefined
        yield* Effect.logInfo("Another process owns the DingTalk connection of this robot; forwarding MCP tool calls to it")
      }
      yield* role.ownerGone
      if (refusal === undefined) return yield* Effect.logWarning("The owning process exited; taking over")
      const reason = refusal
      yield* route(async () => ({ isError: true, content: [{ type: "text", text: reason }] }))
      yield* Effect.logWarning("The owning process exited; not taking over (see the error above); waiting for an owner with the same access policy")
    })))
  })
