// The browser protocol of the edge's /ws (services/edge/README.md): what the server says, what we send.
// Its types are generated from the edge's JSON Schema (protocol.schema.json -> protocol.generated.ts),
// so they cannot drift from the server; protocol.test.ts and closeCodes.test.ts hold this side to it.

import type { Capability, ServerEvent, TranscriptEvent } from "./protocol.generated";

export type {
  AuthEvent,
  Capability,
  ClientMessage,
  ClientPlayed,
  CloseCode,
  ErrorCode,
  ErrorEvent,
  MediaEvent,
  ServerEvent,
  SessionEvent,
  StopEvent,
  ToolEvent,
  TranscriptEvent,
  TurnEvent,
  UsageEvent,
} from "./protocol.generated";

export const BINARY_PROTOCOL = "voice.v1.binary";

export type Role = TranscriptEvent["role"];

// Every event of the schema, and whether this client takes it as JSON: the type makes the list complete.
const EVENTS: Record<ServerEvent["event"], boolean> = {
  session: true,
  auth: true,
  media: false, // audio comes as binary frames on voice.v1.binary
  stop: true,
  transcript: true,
  turn: true,
  tool: true,
  usage: true,
  error: true,
};
const KNOWN = new Set(Object.entries(EVENTS).flatMap(([event, taken]) => (taken ? [event] : [])));

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

/**
 * Whether the session's engine does `capability`, by the capabilities of its `session` event; null
 * (no session yet) assumes it does, so that nothing disappears before the server has said so.
 */
export function engineCan(capabilities: readonly string[] | null, capability: Capability): boolean {
  return capabilities === null || capabilities.includes(capability);
}

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
