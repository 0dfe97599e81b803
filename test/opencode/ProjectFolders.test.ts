import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import fs from "node:fs"
import { tmpdir } from "node:os"
import path from "node:path"
import { BridgeConfig } from "../../src/core/BridgeConfig.js"
import { conversationFolder } from "../../src/core/SafeFileName.js"
import { OpenCodeClient } from "../../src/opencode/OpenCodeClient.js"
import { ProjectFolders } from "../../src/opencode/ProjectFolders.js"
import { FakeOpenCodeScoped } from "../../src/testing/FakeOpenCode.js"

const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => fs.realpathSync(fs.mkdtempSync(path.join(tmpdir(), prefix)))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

const foldersFor = (directory: string, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const fake = yield* FakeOpenCodeScoped({ directory })
    const config = BridgeConfig.layerFrom({ DINGTALK_CLIENT_ID: "id", DINGTALK_CLIENT_SECRET: "secret", OPENCODE_SERVER_URL: fake.url, ...env })
    const context = yield* Layer.build(ProjectFolders.layer.pipe(Layer.provide(OpenCodeClient.layer), Layer.provide(config)))
    return Context.get(context, ProjectFolders)
  })

describe("ProjectFolders", () => {
  it.live("attachments live in OpenCode's working directory, one folder per conversation; sendable folders default to it and the project", () =>
    Effect.gen(function*() {
      const project = yield* tempDir("folders-project-")
      const folders = yield* foldersFor(project)
      assert.strictEqual(yield* folders.projectDirectory, project)
      const folder = yield* folders.attachmentsFor("cidAb/c+d=")
      assert.strictEqual(folder, path.join(project, ".dingtalk", "attachments", conversationFolder("cidAb/c+d=")))
      assert.isTrue(fs.statSync(folder).isDirectory())
      assert.deepStrictEqual(yield* folders.sendableFolders, [path.join(project, ".dingtalk", "attachments"), project])
    }).pipe(Effect.scoped))

  it.live("a conversation folder that is a symlink leading out of the attachments folder is refused", () =>
    Effect.gen(function*() {
      const project = yield* tempDir("folders-project-")
      const outside = yield* tempDir("folders-outside-")
      fs.mkdirSync(path.join(project, ".dingtalk", "attachments"), { recursive: true })
      fs.symlinkSync(outside, path.join(project, ".dingtalk", "attachments", "cid-evil"))
      const folders = yield* foldersFor(project)
      const error = yield* folders.attachmentsFor("cid-evil").pipe(Effect.flip)
      assert.strictEqual(error._tag, "FolderUnusable")
      assert.match(error.message, /outside/)
    }).pipe(Effect.scoped))

  it.live("absolute BRIDGE_ATTACHMENTS_DIR and BRIDGE_SEND_FILE_DIRS are used as given, relative ones inside the project", () =>
    Effect.gen(function*() {
      const project = yield* tempDir("folders-project-")
      const elsewhere = yield* tempDir("folders-elsewhere-")
      const folders = yield* foldersFor(project, { BRIDGE_ATTACHMENTS_DIR: elsewhere, BRIDGE_SEND_FILE_DIRS: `out, ${elsewhere}` })
      assert.strictEqual(yield* folders.attachmentsRoot, elsewhere)
      assert.deepStrictEqual(yield* folders.sendableFolders, [path.join(project, "out"), elsewhere])
    }).pipe(Effect.scoped))
})
