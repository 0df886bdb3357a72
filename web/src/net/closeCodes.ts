// What each close code of the edge means for the person and for the client's next move.

export type NextStep =
  /** The conversation is over (we asked for it). */
  | "ended"
  /** Reconnect to the same session with the resume token. */
  | "resume"
  /** Try again later with backoff (resuming when there is a session to resume). */
  | "retry"
  /** The session is gone: start a new one. */
  | "new_session"
  /** The credential is no good: back to sign-in. */
  | "sign_in"
  /** Stop and explain; the person can press Engage again. */
  | "stop";

export interface CloseVerdict {
  step: NextStep;
  message: string;
}

/** The close code this client uses when the browser reports that the network is gone. */
export const CLIENT_OFFLINE = 4000;

export function judgeClose(code: number, reason: string, endRequested: boolean): CloseVerdict {
  if (endRequested) return { step: "ended", message: "" };
  switch (code) {
    case 1000:
      return { step: "ended", message: "The session ended." };
    case 1001:
    case 1005:
    case 1006:
      return { step: "resume", message: "Connection lost. Reconnecting…" };
    case CLIENT_OFFLINE:
      return { step: "resume", message: "The network is down. Reconnecting when it is back…" };
    case 1008:
      return { step: "stop", message: "The server closed the session after too many bad messages." };
    case 1009:
      return { step: "stop", message: "The server refused a message that was too large." };
    case 1011:
      return { step: "stop", message: "The session failed on the server. Press Engage to start a new one." };
    case 1012:
      return { step: "resume", message: "The server is restarting. Resuming the conversation…" };
    case 1013:
      return {
        step: "retry",
        message: /auth/i.test(reason)
          ? "Sign-in cannot be checked right now. Trying again…"
          : "No assistant is available right now. Trying again…",
      };
    case 4400:
      return { step: "stop", message: "This page and the server disagree on the protocol. Reload the page." };
    case 4401:
      return { step: "sign_in", message: "The server refused your sign-in. Please sign in again." };
    case 4403:
      return { step: "new_session", message: "The previous conversation could not be resumed. Starting a new one." };
    case 4409:
      return { step: "stop", message: "This conversation was continued in another window." };
    case 4429:
      return { step: "stop", message: "Audio reached the server faster than real time; the session was closed." };
    case 4440:
      return { step: "sign_in", message: "Your sign-in expired. Please sign in again." };
    default:
      return { step: "resume", message: `Connection closed (${code}). Reconnecting…` };
  }
}
