// The recordings API (services/recordings/README.md), with the signed-in user's credential.

import type { Credential } from "../auth/credential";

export interface RecordedTurn {
  turnId: number;
  role: "user" | "assistant";
  /** Seconds from the start of the recording. */
  start: number;
  end: number;
  text: string;
  /** An answer the user cut short: only what was heard is in the text and the audio. */
  interrupted: boolean;
}

export interface Recording {
  sessionId: string;
  principal: string;
  /** Unix seconds. */
  startedAt: number;
  endedAt: number;
  /** Seconds of audio. */
  duration: number;
  turns: RecordedTurn[];
  /** A short-lived URL of the Ogg Opus audio that an <audio> element plays and seeks (details only). */
  audioUrl?: string;
}

export interface RecordingPage {
  recordings: Recording[];
  /** The cursor of the next page, or null at the end. */
  next: string | null;
}

/** The `Authorization` header of a credential's subprotocol (`key.<k>` or `bearer.<jwt>`). */
export function authorization(subprotocol: string): string {
  if (subprotocol.startsWith("bearer.")) return `Bearer ${subprotocol.slice("bearer.".length)}`;
  if (subprotocol.startsWith("key.")) return `ApiKey ${subprotocol.slice("key.".length)}`;
  throw new Error("this credential cannot call the recordings API");
}

async function get<T>(base: string, path: string, credential: Credential): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    headers: { Accept: "application/json", Authorization: authorization(await credential.subprotocol()) },
    cache: "no-store",
  });
  if (!response.ok) throw new Error(`the recordings service answered ${response.status}`);
  return (await response.json()) as T;
}

export function listRecordings(base: string, credential: Credential, cursor?: string): Promise<RecordingPage> {
  const query = new URLSearchParams({ limit: "20" });
  if (cursor) query.set("cursor", cursor);
  return get<RecordingPage>(base, `/api/recordings?${query}`, credential);
}

export async function getRecording(base: string, credential: Credential, sessionId: string): Promise<Recording> {
  const recording = await get<Recording>(base, `/api/recordings/${encodeURIComponent(sessionId)}`, credential);
  // The API's own signed URLs are paths on its origin; S3's are absolute.
  if (recording.audioUrl) recording.audioUrl = new URL(recording.audioUrl, `${base}/`).href;
  return recording;
}
