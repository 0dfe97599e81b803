import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // End-to-end files spawn processes and real servers; keep the machine (2 cores) responsive.
    maxWorkers: 2,
  },
})
