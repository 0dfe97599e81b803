/**
 * A bridge running in this process until stopped: the layer is built in one scope, `run` (the bridge's
 * message loop) forked in it, and effects can use its services meanwhile. `run` is a parameter so that
 * another build's `Bridge` (round 1, see roundOne.ts) runs the same way.
 */
import { Effect, Layer, Logger, References, type Context } from "effect"

/** No log output and no span recording, as the CLI runs (src/app/App.ts: it exports no traces). */
export const Quiet = Layer.mergeAll(
  Logger.layer([Logger.withConsoleError(Logger.formatLogFmt)]),
  Layer.succeed(References.MinimumLogLevel, "None"),
  Layer.succeed(References.TracerEnabled, false)
)

export const startInProcess = async <ROut, E>(layer: Layer.Layer<ROut, E>, run: Effect.Effect<void, unknown, NoInfer<ROut>>) => {
  const controller = new AbortController()
  let resolveReady: (context: Context.Context<ROut>) => void = () => undefined
  const ready = new Promise<Context.Context<ROut>>((resolve) => (resolveReady = resolve))
  const running = Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(layer)
    resolveReady(context)
    yield* Effect.forkScoped(Effect.provideContext(run, context))
    yield* Effect.callback<void>((resume) => controller.signal.addEventListener("abort", () => resume(Effect.void)))
  })))
  // A layer that fails to build rejects `running` before `ready` ever resolves.
  const context = await Promise.race([ready, running.then(() => Promise.reject(new Error("the bridge stopped while starting")))])
  return {
    use: <A>(effect: Effect.Effect<A, unknown, ROut>) => Effect.runPromise(Effect.provideContext(effect, context)),
    stop: async () => {
      controller.abort()
      await running
    },
  }
}
