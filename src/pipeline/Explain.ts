/** What the user reads when OpenCode failed, in the chat's language. */
import type { MessagesShape } from "../core/Messages.js"
import type { OpenCodeError } from "../opencode/OpenCodeClient.js"

/**
 * What the user reads when OpenCode failed: what happened and who can fix it, never a URL, a credential
 * or OpenCode's raw error text (those go to the log).
 */
export const explain = (error: OpenCodeError, messages: MessagesShape): string => {
  switch (error._tag) {
    case "OpenCodeUnreachable":
      return messages.text("error.opencodeUnreachable")
    case "OpenCodeRequestFailed":
      return error.status === 401 ? messages.text("error.opencodeRefusedCredentials") : messages.text("error.opencodeRequestFailed")
    case "TurnTimedOut":
      return messages.text("error.turnTimedOut", { seconds: Math.round(error.timeoutMs / 1000) })
    case "TurnFailed":
      return messages.text("error.turnFailed", { name: error.name.replace(/[^\w.-]/g, "").slice(0, 60) })
    case "SessionNotFound":
      return messages.text("error.sessionNotFound")
  }
}
