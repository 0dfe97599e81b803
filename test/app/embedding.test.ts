// The README's embedding example, as written there, run against the emulator and the fake OpenCode.
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { Effect, Fiber } from "effect"
import { startDingTalkEmulator, startFakeOpenCode } from "../../src/testing/index.js"

const root = path.resolve(import.meta.dirname, "../..")

/** The first TypeScript block of the README's "Embedding" section. */
const readmeSnippet = (): string => {
  const readme = readFileSync(path.join(root, "README.md"), "utf8")
  const section = readme.slice(readme.indexOf("\n## Embedding"))
  const match = /```ts\n([\s\S]*?)```/.exec(section)
  if (match === null) throw new Error("README has no ts block under ## Embedding")
  return match[1]!
}

describe("embedding the bridge in another Effect app", () => {
  it("the README's example runs with the app's own configuration and logging layers", async () => {
    const emulator = await startDingTalkEmulator()
    const opencode = await startFakeOpenCode()
    const snippet = readmeSnippet()
    // Only what points it at the test servers changes: the package name, DingTalk's URL, the sender, the runner.
    const runnable = snippet
      .replace(`from "dingtalk-mcp-server"`, `from "../../src/index.js"`)
      .replace("DINGTALK_CLIENT_SECRET: process.env.MY_BOT_SECRET!,", "DINGTALK_CLIENT_SECRET: process.env.MY_BOT_SECRET!,\n  DINGTALK_API_URL: process.env.MY_BOT_API!,")
      .replace(`"http://127.0.0.1:4096"`, JSON.stringify(opencode.url))
      .replace(`DINGTALK_ALLOWED_USERS: "manager4711"`, `DINGTALK_ALLOWED_USERS: "staff-1"`)
      .replace(`level: "Info"`, `level: "None"`)
      .replace("NodeRuntime.runMain(program)", "export default program")
    expect(runnable).not.toBe(snippet)
    expect(runnable).toContain("export default program")
    expect(runnable).toContain("DINGTALK_API_URL")
    Object.assign(process.env, { MY_BOT_ID: emulator.clientId, MY_BOT_SECRET: emulator.clientSecret, MY_BOT_API: emulator.url })
    const file = path.join(import.meta.dirname, `readme-embedding-${process.pid}.generated.ts`)
    writeFileSync(file, runnable)
    let fiber: Fiber.Fiber<unknown, unknown> | undefined
    try {
      const program = (await import(file)).default as Effect.Effect<never, unknown>
      fiber = Effect.runFork(program)
      await emulator.waitForConnections(1)
      emulator.pushMessage({ text: "embedded", conversationId: "cid-embed" })
      const [reply] = await emulator.waitForReplies(1, { conversationId: "cid-embed" })
      expect(reply!.text).toBe("ECHO: embedded")
    } finally {
      rmSync(file, { force: true })
      if (fiber !== undefined) await Effect.runPromise(Fiber.interrupt(fiber))
      await emulator.close()
      await opencode.close()
    }
  })
})
