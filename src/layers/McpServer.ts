/**
 * The MCP server: the tools in `src/tools`, answered with the bridge's own services (no second path),
 * over stdio. It starts at once, whatever the state of DingTalk or OpenCode, and reports when its
 * client has gone (stdin closed) so the process can shut down.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { CallToolRequestSchema, type CallToolResult, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { Context, Deferred, Effect, Exit, Layer } from "effect"
import type { Tool, ToolError, ToolOutput } from "../tools/Tool.js"
import { tools } from "../tools/index.js"
import { VERSION } from "../version.js"

/** The services the tools use. */
export type ToolServices = typeof tools[number] extends Tool<infer R> ? R : never

/** Builds an MCP `Server` whose tools run with the given services. */
export const makeMcpServer = (context: Context.Context<ToolServices>): Server => {
  const server = new Server({ name: "dingtalk-mcp-server", version: VERSION }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: tools.map((tool) => ({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema as { type: "object" } })),
  }))
  server.setRequestHandler(CallToolRequestSchema, async (request): Promise<CallToolResult> => {
    const tool = tools.find((candidate) => candidate.name === request.params.name)
    if (tool === undefined) {
      return { isError: true, content: [{ type: "text", text: `Unknown tool "${request.params.name}". Available: ${tools.map((t) => t.name).join(", ")}.` }] }
    }
    const exit = await Effect.runPromiseExit(
      (tool.call(request.params.arguments) as Effect.Effect<ToolOutput, ToolError, ToolServices>).pipe(
        Effect.provideContext(context),
        Effect.withSpan(`McpServer.${tool.name}`)
      )
    )
    if (Exit.isSuccess(exit)) {
      const { text, structured } = exit.value
      return { content: [{ type: "text", text }], ...(structured === undefined ? {} : { structuredContent: structured }) }
    }
    const failure = Exit.findErrorOption(exit)
    const message = failure._tag === "Some" ? failure.value.message : `Internal error in ${tool.name}; see the server's stderr.`
    return { isError: true, content: [{ type: "text", text: message }] }
  })
  return server
}

/** MCP over stdio for this process. */
export class McpStdio extends Context.Service<McpStdio, {
  /** Completes when the MCP client has gone (stdin closed after it spoke). */
  readonly closed: Effect.Effect<void>
}>()("dingtalk-mcp-server/McpStdio") {
  /** Serves on process stdin/stdout. */
  static readonly layer = Layer.effect(
    McpStdio,
    Effect.gen(function*() {
      const context = yield* Effect.context<ToolServices>()
      const closed = yield* Deferred.make<void>()
      const server = makeMcpServer(context)
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
      return McpStdio.of({ closed: Deferred.await(closed) })
    })
  )
}
