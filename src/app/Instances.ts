/**
 * The life of one instance: own the robot (DingTalk connection, pipeline, and the tool calls of the
 * other instances), or follow the owner (forward tool calls to it) until it goes, then try again.
 */
import { Context, Duration, Effect, Layer } from "effect"
import type { ConnectionFatal } from "../dingtalk/DingTalkStream.js"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { serveMcpHttp } from "../mcp/McpHttp.js"
import { localDispatch, type ToolDispatch, type ToolServices } from "../mcp/McpServer.js"
import { Bridge } from "../pipeline/Bridge.js"
import { acquire } from "./ControlSocket.js"

/** Runs the bridge as owner, or follows the owner; returns only by failing with a fatal connection error. */
export const runAsOwnerOrFollower = <E, R>(
  bridgeLayer: Layer.Layer<Bridge | ToolServices, E, R>,
  route: (dispatch: ToolDispatch) => Effect.Effect<void>
): Effect.Effect<never, E | ConnectionFatal, R | BridgeConfig> =>
  Effect.gen(function*() {
    const settings = yield* BridgeConfig

    const own = (onOwned: (dispatch: ToolDispatch) => void) =>
      Effect.scoped(Effect.gen(function*() {
        // The app's own context (logger, log level, tracer) with the bridge's services on top, for tool and HTTP calls.
        const context = Context.merge(yield* Effect.context<R | BridgeConfig>(), yield* Layer.build(bridgeLayer))
        const dispatch = localDispatch(context)
        yield* serveMcpHttp(dispatch).pipe(Effect.provideService(BridgeConfig, settings), Effect.provideContext(context))
        onOwned(dispatch)
        yield* route(dispatch)
        return yield* Bridge.use((bridge) => bridge.run).pipe(Effect.provideContext(context))
      }))

    if (!settings.instance.singleOwner) return yield* own(() => undefined)

    return yield* Effect.forever(Effect.gen(function*() {
      const role = yield* Effect.promise(() => acquire(settings.instance.stateDir, settings.dingtalk.clientId))
      if (role._tag === "Owner") {
        yield* Effect.logInfo(`This process (pid ${process.pid}) owns the DingTalk connection`)
        yield* own((dispatch) => role.serve(dispatch)).pipe(Effect.ensuring(Effect.promise(() => role.close())))
      } else {
        yield* route(role.call)
        yield* Effect.logInfo("Another process owns the DingTalk connection of this robot; forwarding MCP tool calls to it")
        yield* Effect.promise(() => role.ownerGone).pipe(Effect.ensuring(Effect.sync(() => role.close())))
        yield* Effect.logWarning("The owning process exited; taking over")
        yield* Effect.sleep(Duration.millis(Math.random() * 200))
      }
    }))
  })
