/**
 * An MCP tool as data: a name, a description that tells a model when to use it, an input Schema
 * (decoded with Effect Schema, published as JSON Schema) and an Effect that answers it.
 */
import { Effect, Schema } from "effect"

/** A tool's answer: text for the model, plus the same data as structured content. */
export interface ToolOutput {
  readonly text: string
  readonly structured?: Record<string, unknown>
}

/** A failure the model should read and act on (returned as `isError: true`). */
export class ToolError extends Schema.TaggedError<ToolError>()("ToolError", { message: Schema.String }) {}

/** MCP tool annotations: hints for clients (whether it changes things, talks to the outside world). */
export interface ToolAnnotations {
  readonly title?: string
  readonly readOnlyHint?: boolean
  readonly destructiveHint?: boolean
  readonly idempotentHint?: boolean
  readonly openWorldHint?: boolean
}

/** One MCP tool. */
export interface Tool<R = never> {
  readonly name: string
  readonly description: string
  readonly annotations?: ToolAnnotations
  readonly inputSchema: Record<string, unknown>
  readonly call: (args: unknown) => Effect.Effect<ToolOutput, ToolError, R>
}

/** Defines a tool whose arguments are decoded with `input` before `run` sees them. */
export const defineTool = <S extends Schema.Struct<Schema.Struct.Fields>, R>(definition: {
  readonly name: string
  readonly description: string
  readonly annotations?: ToolAnnotations
  readonly input: S
  readonly run: (input: S["Type"]) => Effect.Effect<ToolOutput, ToolError, R>
}): Tool<R> => {
  const decode = Schema.decodeUnknownEffect(definition.input as unknown as Schema.Codec<S["Type"], unknown>)
  return {
    name: definition.name,
    description: definition.description,
    ...(definition.annotations === undefined ? {} : { annotations: definition.annotations }),
    inputSchema: toInputSchema(definition.input),
    call: (args) =>
      decode(args ?? {}).pipe(
        Effect.mapError((error) => new ToolError({ message: `Invalid arguments for ${definition.name}: ${error.message}` })),
        Effect.flatMap(definition.run),
        Effect.withSpan(`Tool.${definition.name}`)
      ),
  }
}

/** MCP wants a plain `{"type":"object"}` JSON Schema, also for tools without arguments. */
const toInputSchema = (input: Schema.Top): Record<string, unknown> => {
  const { schema } = Schema.toJsonSchemaDocument(input)
  const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {}
  const required = (schema as { required?: ReadonlyArray<string> }).required ?? []
  return { type: "object", properties, ...(required.length > 0 ? { required } : {}), additionalProperties: false }
}

/** JSON for a model to read: stable key order, two-space indent. */
export const asJson = (value: unknown): string => JSON.stringify(value, null, 2)
