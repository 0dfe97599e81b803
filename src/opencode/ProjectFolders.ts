/**
 * The folders the bridge reads and writes for the agent: OpenCode's working directory (from
 * `GET /path`), the attachments folder inside it (`BRIDGE_ATTACHMENTS_DIR`, one folder per
 * conversation), and the folders `dingtalk_send_file` may read (`BRIDGE_SEND_FILE_DIRS`).
 */
import { Cache, Context, Duration, Effect, Exit, Layer, Schema } from "effect"
import fs from "node:fs"
import path from "node:path"
import { BridgeConfig } from "../core/BridgeConfig.js"
import { conversationFolder, isInside } from "../core/SafeFileName.js"
import { OpenCodeClient, type OpenCodeRequestFailed, type OpenCodeUnreachable } from "./OpenCodeClient.js"

/** A folder could not be made, or it resolves (through a symlink) outside the attachments folder. */
export class FolderUnusable extends Schema.TaggedError<FolderUnusable>()("FolderUnusable", {
  folder: Schema.String,
  detail: Schema.String,
}) {
  override get message() {
    return `The attachments folder ${this.folder} cannot be used: ${this.detail}. Check BRIDGE_ATTACHMENTS_DIR.`
  }
}

type FoldersError = OpenCodeUnreachable | OpenCodeRequestFailed | FolderUnusable

/** OpenCode restarted elsewhere shows up after this long. */
const DIRECTORY_TTL = Duration.minutes(5)

/** The agent's folders. */
export class ProjectFolders extends Context.Service<ProjectFolders, {
  /** OpenCode's working directory (its project), absolute. */
  readonly projectDirectory: Effect.Effect<string, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** The attachments folder (all conversations), absolute. */
  readonly attachmentsRoot: Effect.Effect<string, OpenCodeUnreachable | OpenCodeRequestFailed>
  /** The conversation's attachments folder, created, and checked to really be inside the attachments folder. */
  readonly attachmentsFor: (conversationId: string) => Effect.Effect<string, FoldersError>
  /** The folders `dingtalk_send_file` may read from, absolute. */
  readonly sendableFolders: Effect.Effect<ReadonlyArray<string>, OpenCodeUnreachable | OpenCodeRequestFailed>
}>()("dingtalk-mcp-server/ProjectFolders") {
  /** Folders from the configuration and OpenCode's `GET /path`. */
  static readonly layer = Layer.effect(
    ProjectFolders,
    Effect.gen(function*() {
      const settings = yield* BridgeConfig
      const client = yield* OpenCodeClient
      const cache = yield* Cache.makeWith((_: "path") => client.paths, {
        capacity: 1,
        timeToLive: (exit) => (Exit.isSuccess(exit) ? DIRECTORY_TTL : Duration.zero),
      })
      const projectDirectory = Cache.get(cache, "path").pipe(Effect.map((paths) => path.resolve(paths.directory)))
      const resolveIn = (folder: string) => path.isAbsolute(folder) ? Effect.succeed(path.resolve(folder)) : projectDirectory.pipe(Effect.map((root) => path.resolve(root, folder)))
      const attachmentsRoot = resolveIn(settings.media.attachmentsDir)

      const attachmentsFor = Effect.fn("ProjectFolders.attachmentsFor")(function*(conversationId: string) {
        const root = yield* attachmentsRoot
        const folder = path.join(root, conversationFolder(conversationId))
        return yield* Effect.tryPromise({
          try: async () => {
            await fs.promises.mkdir(folder, { recursive: true })
            // A symlink planted in the project must not redirect writes elsewhere.
            const [realRoot, realFolder] = await Promise.all([fs.promises.realpath(root), fs.promises.realpath(folder)])
            if (!isInside(realRoot, realFolder)) throw new Error(`${folder} resolves to ${realFolder}, outside ${realRoot}`)
            return realFolder
          },
          catch: (error) => new FolderUnusable({ folder, detail: error instanceof Error ? error.message : String(error) }),
        })
      })

      const sendableFolders = settings.media.sendFileDirs.length > 0
        ? Effect.forEach(settings.media.sendFileDirs, resolveIn)
        : Effect.all([attachmentsRoot, projectDirectory])

      return ProjectFolders.of({ projectDirectory, attachmentsRoot, attachmentsFor, sendableFolders })
    })
  )
}
