// The CLI is bundled (tree-shaken Effect, the SDKs) so `node dist/main.js` starts about twice as fast:
// OpenCode waits for MCP `initialize`. The library entry points stay unbundled `tsc` output.
import { fileURLToPath } from "node:url"
import { defineConfig } from "rolldown"

export default defineConfig({
  input: "dist/app/App.js",
  platform: "node",
  // ws loads these optional native helpers only when installed; they are not.
  external: ["bufferutil", "utf-8-validate"],
  resolve: { alias: { "form-data": fileURLToPath(new URL("./build/form-data.mjs", import.meta.url)) } },
  output: {
    dir: "dist/cli",
    format: "esm",
    entryFileNames: "app.js",
    chunkFileNames: "[name]-[hash].js",
    // V8 keeps a module's source in memory: without comments it is a third smaller, and ASCII-only
    // source is stored one byte per character (one Chinese string made all 3.9 MB two bytes each).
    comments: false,
    charset: "ascii",
  },
  logLevel: "warn",
})
