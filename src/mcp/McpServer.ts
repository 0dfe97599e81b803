/**
 * The MCP server: the tools in `src/tools`, answered with the bridge's own services (no second path),
 * over stdio. It starts at once, whatever the state of DingTalk or OpenCode, and reports when its
 * client has gone (stdin closed) so the process can shut down.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { CallToolRequestSchema, type CallToolResult, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { Context, Deferred, Effect, Exit, Layer } from "effect"
import type { Tool, ToolError, ToolOutput } from "./Tool.js"
import { tools } from "./Tools.js"
import { VERSION } from "../core/Version.js"

/** The services the tools use. */
export type ToolServices = typeof tools[number] extends Tool<infer R> ? R : never

/** Answers one tool call: locally with the bridge's services, or by forwarding to the owner process. */
export type ToolDispatch = (name: string, args: unknown) => Promise<CallToolResult>

/**
 * Runs tools in this process with the given services. Pass the whole context of the running app
 * (not one rebuilt from the bridge layer) so tool calls keep its logger, log level, tracer and metrics.
 */
export const localDispatch = (context: Context.Context<ToolServices>): ToolDispatch => async (name, args) => {
  const tool = tools.find((candidate) => candidate.name === name)
  if (tool === undefined) {
    return { isError: true, content: [{ type: "text", text: `Unknown tool "${name}". Available: ${tools.map((t) => t.name).join(", ")}.` }] }
  }
  const exit = await Effect.runPromiseExitWith(context)(
    (tool.call(args) as Effect.Effect<ToolOutput, ToolError, ToolServices>).pipe(Effect.withSpan(`McpServer.${tool.name}`))
  )
  if (Exit.isSuccess(exit)) {
    const { text, structured } = exit.value
    return { content: [{ type: "text", text }], ...(structured === undefined ? {} : { structuredContent: structured }) }
  }
  const failure = Exit.findErrorOption(exit)
  const message = failure._tag === "Some" ? failure.value.message : `Internal error in ${tool.name}; see the server's stderr.`
  return { isError: true, content: [{ type: "text", text: message }] }
}

/** Builds an MCP `Server` whose tool calls go to `dispatch()` (read per call: the route can change). */
export const makeMcpServer = (dispatch: () => ToolDispatch): Server => {
  const server = new Server({ name: "dingtalk-mcp-server", version: VERSION }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: tools.map((tool: Tool<ToolServices>) => ({
      name: tool.name, description: tool.description, inputSchema: tool.inputSchema as { type: "object" },
      ...(tool.annotations === undefined ? {} : { annotations: { ...tool.annotations } }),
    })),
  }))
  server.setRequestHandler(CallToolRequestSchema, (request) => dispatch()(request.params.name, request.params.arguments))
  return server
}

/** How long a tool call made during start-up waits for this instance's role before giving up. */
const STARTUP_WAIT_MS = 10_000

/** Until a role is settled, tool calls wait for it (a client calls right after `initialize`), then give up. */
const waitingFor = (settled: Promise<ToolDispatch>): ToolDispatch => async (name, args) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), STARTUP_WAIT_MS)
  })
  const dispatch = await Promise.race([settled, timedOut])
  clearTimeout(timer)
  return dispatch === undefined
    ? { isError: true, content: [{ type: "text", text: "The DingTalk bridge is still starting; try again in a few seconds." }] }
    : dispatch(name, args)
}

/** MCP over stdio for this process. */
export class McpStdio extends Context.Service<McpStdio, {
  /** Completes when the MCP client has gone (stdin closed after it spoke). */
  readonly closed: Effect.Effect<void>
  /** Where tool calls go from now on. */
  readonly route: (dispatch: ToolDispatch) => Effect.Effect<void>
}>()("dingtalk-mcp-server/McpStdio") {
  /** Serves on process stdin/stdout. */
  static readonly layer = Layer.effect(
    McpStdio,
    Effect.gen(function*() {
      const context = yield* Effect.context<never>()
      const closed = yield* Deferred.make<void>()
      let settle: (dispatch: ToolDispatch) => void = () => undefined
      let current = waitingFor(new Promise((resolve) => (settle = resolve)))
      const server = makeMcpServer(() => current)
      const transport = new StdioServerTransport()
      let clientSpoke = false
      const onData = () => {
        clientSpoke = true
      }
      // Under a supervisor stdin is often /dev/null: an immediate end with no client means "run as a bridge only".
      const onEnd = () => {
        if (clientSpoke) Deferred.doneUnsafe(closed, Exit.void)
        else Effect.runForkWith(context)(Effect.logInfo("stdin closed before any MCP client spoke; running as a bridge without MCP stdio"))
      }
      process.stdin.once("data", onData)
      process.stdin.once("end", onEnd)
      yield* Effect.acquireRelease(
        Effect.promise(() => server.connect(transport)),
        () => Effect.promise(() => server.close()).pipe(Effect.andThen(Effect.sync(() => {
          process.stdin.off("data", onData)
          process.stdin.off("end", onEnd)
        })))
      )
      return McpStdio.of({
        closed: Deferred.await(closed),
        route: (dispatch) => Effect.sync(() => {
          current = dispatch
          settle(dispatch)
        }),
      })
    })
  )
}
