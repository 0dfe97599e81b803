#!/usr/bin/env node
/**
 * Entry point (`node dist/main.js`): make sure we run on Node ≥ 22 and that stdout stays clean
 * for MCP, then start the app. Everything that loads Effect comes after these two guards.
 */
import module from "node:module"
import { exitWithLauncher, relaunchOnPinnedNode } from "./app/PinnedNode.js"
import { routeConsoleToStderr } from "./app/StdoutGuard.js"

if (!relaunchOnPinnedNode()) {
  exitWithLauncher()
  routeConsoleToStderr()
  // Effect and the SDKs are large: V8's on-disk code cache roughly halves start-up after the first run.
  module.enableCompileCache?.()
  // The bundled app (see rolldown.config.mjs); a specifier in a variable keeps tsc from resolving it.
  const app = "./cli/app.js"
  await import(app)
}
