// What each close code of the edge means for the person and for the client's next move, and which
// error events end the session. Both tables are typed over the codes of the edge's schema
// (protocol.schema.json), so a code the edge adds fails the type check until it is handled here.

import type { CloseCode, ErrorCode } from "./protocol";

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

/** The edge's close codes (protocol.schema.json: CloseCode); the reason may refine the verdict. */
export const EDGE_CLOSES: Record<CloseCode, (reason: string) => CloseVerdict> = {
  1000: () => ({ step: "ended", message: "The session ended." }),
  1008: () => ({ step: "stop", message: "The server closed the session after too many bad messages." }),
  1009: () => ({ step: "stop", message: "The server refused a message that was too large." }),
  1011: () => ({ step: "stop", message: "The session failed on the server. Press Engage to start a new one." }),
  1012: () => ({ step: "resume", message: "The server is restarting. Resuming the conversation…" }),
  1013: (reason) => ({
    step: "retry",
    message: /auth/i.test(reason)
      ? "Sign-in cannot be checked right now. Trying again…"
      : "No assistant is available right now. Trying again…",
  }),
  4400: () => ({ step: "stop", message: "This page and the server disagree on the protocol. Reload the page." }),
  4401: () => ({ step: "sign_in", message: "The server refused your sign-in. Please sign in again." }),
  4403: () => ({ step: "new_session", message: "The previous conversation could not be resumed. Starting a new one." }),
  4409: () => ({ step: "stop", message: "This conversation was continued in another window." }),
  4429: () => ({ step: "stop", message: "Audio reached the server faster than real time; the session was closed." }),
  4440: () => ({ step: "sign_in", message: "Your sign-in expired. Please sign in again." }),
};

export function judgeClose(code: number, reason: string, endRequested: boolean): CloseVerdict {
  if (endRequested) return { step: "ended", message: "" };
  switch (code) {
    case 1001:
    case 1005:
    case 1006:
      return { step: "resume", message: "Connection lost. Reconnecting…" };
    case CLIENT_OFFLINE:
      return { step: "resume", message: "The network is down. Reconnecting when it is back…" };
  }
  if (Object.hasOwn(EDGE_CLOSES, code)) return EDGE_CLOSES[code as CloseCode](reason);
  return { step: "resume", message: `Connection closed (${code}). Reconnecting…` };
}

/**
 * The edge's error codes (protocol.schema.json: ErrorCode) and the close that follows each, or null
 * when the session goes on.
 */
export const ERROR_CLOSES: Record<ErrorCode, CloseCode | null> = {
  invalid_json: null,
  invalid_message: null,
  unknown_type: null,
  bad_base64: null,
  odd_pcm_length: null,
  text_too_long: null,
  empty_text: null,
  text_rate_limited: null,
  unexpected_binary: null,
  frame_too_large: 1009,
  rate_limited: 4429,
  too_many_errors: 1008,
  no_worker: 1013,
  worker_lost: 1013,
  session_failed: 1011,
  auth_expired: 4440,
  auth_refused: null,
  auth_unavailable: null,
};

/** True for an error event after which the edge closes the session (engines' own codes: false). */
export function errorEndsSession(code: string): boolean {
  return Object.hasOwn(ERROR_CLOSES, code) && ERROR_CLOSES[code as ErrorCode] !== null;
}
