// The browser protocol of the edge's /ws (services/edge/README.md): what the server says, what we send.

export const BINARY_PROTOCOL = "voice.v1.binary";

export type Role = "user" | "assistant";

export interface SessionEvent {
  event: "session";
  sessionId: string;
  resumeToken: string;
  inputRate: number;
  outputRate: number;
}
export interface StopEvent {
  event: "stop";
  turnId: number;
}
export interface TranscriptEvent {
  event: "transcript";
  turnId: number;
  role: Role;
  text: string;
  stage: "speculative" | "final";
  interrupted: boolean;
}
export interface TurnEvent {
  event: "turn";
  turnId: number;
  role: Role;
  state: "started" | "ended";
  reason?: string | null;
}
export interface ToolEvent {
  event: "tool";
  turnId: number;
  callId: string;
  name: string;
  status: string;
  arguments?: unknown;
  result?: unknown;
}
export interface UsageEvent {
  event: "usage";
  inputTokens: number;
  outputTokens: number;
}
export interface ErrorEvent {
  event: "error";
  code: string;
  message: string;
}
/** The edge's notice about a bearer token (JWT auth): renew before `expiresAt`. */
export interface AuthEvent {
  event: "auth";
  state: "expiring" | "refreshed";
  expiresAt?: number;
}

export type ServerEvent =
  | SessionEvent
  | StopEvent
  | TranscriptEvent
  | TurnEvent
  | ToolEvent
  | UsageEvent
  | ErrorEvent
  | AuthEvent;

const KNOWN = new Set(["session", "stop", "transcript", "turn", "tool", "usage", "error", "auth"]);

/** A server text frame as an event, or null for anything this client does not know. */
export function parseServerEvent(text: string): ServerEvent | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null) return null;
  const event = (data as { event?: unknown }).event;
  return typeof event === "string" && KNOWN.has(event) ? (data as ServerEvent) : null;
}

export type ClientMessage =
  | { type: "text"; text: string }
  | { type: "audio"; data: ""; endOfUtterance: true }
  | { type: "auth"; token: string }
  | { type: "end" };

/** The subprotocols to offer: the protocol first, then the credential, then a resume token. */
export function offeredProtocols(credential: string, resumeToken?: string): string[] {
  const offered = [BINARY_PROTOCOL, credential];
  if (resumeToken) offered.push(`resume.${resumeToken}`);
  return offered;
}

/** The WebSocket URL of the edge serving this page (or of `base` when given). */
export function socketUrl(location: { protocol: string; host: string }, sessionId?: string): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = sessionId ? `?session=${encodeURIComponent(sessionId)}` : "";
  return `${scheme}//${location.host}/ws${query}`;
}
