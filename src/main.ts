#!/usr/bin/env node
/**
 * Entry point (`node dist/main.js`): check the Node version, keep stdout clean for MCP and tune the
 * heap, then start the app. Everything that loads Effect comes after these guards.
 */
import module from "node:module"
import { tuneHeap } from "./app/HeapTuning.js"
import { checkNodeVersion } from "./app/NodeVersion.js"
import { routeConsoleToStderr } from "./app/StdoutGuard.js"

if (checkNodeVersion()) {
  routeConsoleToStderr()
  tuneHeap()
  // Effect and the SDKs are large: V8's on-disk code cache roughly halves start-up after the first run.
  module.enableCompileCache?.()
  // The bundled app (see rolldown.config.mjs); a specifier in a variable keeps tsc from resolving it.
  const app = "./cli/app.js"
  await import(app)
}
