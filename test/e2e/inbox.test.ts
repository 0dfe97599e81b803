/**
 * The durable inbox, as users run the bridge (`node dist/main.js`): SIGKILL after the ack and before
 * the answer, then a restart — every message answered exactly once, in its conversation's order.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { describe, expect, it } from "vitest"
import { JOURNAL_FILE, replayJournal } from "../../src/pipeline/Inbox.js"
import type { FakeOpenCodeOptions } from "../../src/testing/FakeOpenCode.js"
import { setupInstances } from "../support/bridgeInstances.js"
import { cleanupAfterEach } from "../support/resources.js"
import { waitUntil } from "../support/waitUntil.js"

const onCleanup = cleanupAfterEach()

const setup = async (opencodeOptions: FakeOpenCodeOptions = {}) => {
  const { emulator, opencode, stateDir, start } = await setupInstances(onCleanup, "dingtalk-inbox-", opencodeOptions)
  // The messages the journal still holds (its lines replayed as the bridge does on start).
  const inboxFiles = () => readdirSync(stateDir).filter((name) => name.endsWith(".inbox")).flatMap((dir) => {
    const journal = path.join(stateDir, dir, JOURNAL_FILE)
    return existsSync(journal) ? replayJournal(readFileSync(journal, "utf8")).pending.map((entry) => entry.key) : []
  })
  return { emulator, opencode, start, inboxFiles }
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const until = (what: string, check: () => boolean, timeoutMs = 10_000) => waitUntil(what, check, { timeoutMs, everyMs: 20 })

describe("durable inbox", () => {
  it("SIGKILL mid-turn: the turn OpenCode finished is delivered, the one it never got is run; each answered once, in order", async () => {
    const { emulator, opencode, start, inboxFiles } = await setup()
    const a = await start()
    await emulator.waitForConnections(1, 10_000)
    const first = emulator.pushMessage({ text: "SLOW 1500 first", conversationId: "cid-1" })
    const second = emulator.pushMessage({ text: "second", conversationId: "cid-1" })
    await emulator.waitForAck(first.frameId)
    await emulator.waitForAck(second.frameId)
    await opencode.waitForPrompts(1, 10_000)
    // Both were acked: DingTalk will never send them again. The first is in OpenCode, the second waits behind it.
    a.child.kill("SIGKILL")
    await a.exited
    expect(emulator.replies).toHaveLength(0)
    expect(inboxFiles()).toHaveLength(2)
    await until("the first turn to finish in OpenCode", () => opencode.prompts[0]!.endedAt !== undefined)

    await start()
    const replies = await emulator.waitForReplies(2, { conversationId: "cid-1", timeoutMs: 30_000 })
    expect(replies.map((r) => r.text)).toEqual(["ECHO: SLOW 1500 first", "ECHO: second"])
    await settle(1_500)
    expect(emulator.repliesFor("cid-1")).toHaveLength(2)
    // The finished turn was not run again; the one OpenCode never saw was run once.
    expect(opencode.prompts.map((p) => p.text)).toEqual(["SLOW 1500 first", "second"])
    expect(inboxFiles()).toHaveLength(0)
  }, 60_000)

  it("an acked file that waited behind a killed turn is fetched after the restart and named in the prompt", async () => {
    const project = mkdtempSync(path.join(tmpdir(), "dingtalk-inbox-project-"))
    const { emulator, opencode, start } = await setup({ directory: project })
    const a = await start()
    await emulator.waitForConnections(1, 10_000)
    emulator.pushMessage({ text: "SLOW 1500 first", conversationId: "cid-5" })
    const file = emulator.pushMedia("file", Buffer.from("kept\n"), { conversationId: "cid-5", fileName: "kept.txt" })
    await emulator.waitForAck(file.frameId)
    await opencode.waitForPrompts(1, 10_000)
    a.child.kill("SIGKILL")
    await a.exited

    await start()
    await emulator.waitForReplies(2, { conversationId: "cid-5", timeoutMs: 30_000 })
    const prompt = opencode.prompts.at(-1)!.text
    expect(prompt).toContain("[The user sent an attachment, saved in the project:]")
    const saved = /- File: (\S+)/.exec(prompt)?.[1]
    expect(saved?.startsWith(project)).toBe(true)
    expect(readFileSync(saved!, "utf8")).toBe("kept\n")
  }, 60_000)

  it("a turn still running in OpenCode at restart is waited for, then delivered once", async () => {
    const { emulator, opencode, start, inboxFiles } = await setup()
    const a = await start()
    await emulator.waitForConnections(1, 10_000)
    emulator.pushMessage({ text: "SLOW 4000 long one", conversationId: "cid-2" })
    await opencode.waitForPrompts(1, 10_000)
    a.child.kill("SIGKILL")
    await a.exited

    await start()
    const replies = await emulator.waitForReplies(1, { conversationId: "cid-2", timeoutMs: 30_000 })
    expect(replies[0]!.text).toBe("ECHO: SLOW 4000 long one")
    await settle(1_500)
    expect(emulator.repliesFor("cid-2")).toHaveLength(1)
    expect(opencode.prompts).toHaveLength(1)
    expect(inboxFiles()).toHaveLength(0)
  }, 60_000)

  it("a turn OpenCode lost (its server restarted) is run again and answered once", async () => {
    const { emulator, opencode, start, inboxFiles } = await setup()
    const a = await start()
    await emulator.waitForConnections(1, 10_000)
    opencode.setLatency(60_000)
    emulator.pushMessage({ text: "lost", conversationId: "cid-3" })
    await opencode.waitForPrompts(1, 10_000)
    a.child.kill("SIGKILL")
    await a.exited
    // OpenCode keeps the question but the turn is gone: no reply, and the session is idle.
    opencode.dropRunningTurns()
    opencode.setLatency(0)
    opencode.setAnswer((text) => `AGAIN: ${text}`)

    await start()
    const replies = await emulator.waitForReplies(1, { conversationId: "cid-3", timeoutMs: 30_000 })
    expect(replies[0]!.text).toBe("AGAIN: lost")
    await settle(1_000)
    expect(emulator.repliesFor("cid-3")).toHaveLength(1)
    expect(opencode.prompts).toHaveLength(2)
    expect(inboxFiles()).toHaveLength(0)
  }, 60_000)

  it("a SIGTERM just as the reply arrives leaves nothing to resume: the restart does not answer again", async () => {
    const { emulator, opencode, start, inboxFiles } = await setup()
    const a = await start()
    await emulator.waitForConnections(1, 10_000)
    emulator.pushMessage({ text: "just once", conversationId: "cid-4" })
    await emulator.waitForReplies(1, { conversationId: "cid-4", timeoutMs: 10_000 })
    a.child.kill("SIGTERM")
    await a.exited
    expect(inboxFiles()).toHaveLength(0)
    await start()
    await emulator.waitForNewConnection(1, 10_000)
    await settle(1_500)
    expect(emulator.repliesFor("cid-4")).toHaveLength(1)
    expect(opencode.prompts).toHaveLength(1)
  }, 60_000)
})
