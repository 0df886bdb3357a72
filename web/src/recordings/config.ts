// Whether this deployment records conversations, from GET /api/config:
// `{"recording": {"optOut": bool, "url": "<origin of the recordings API>"}}`, or null.

export interface RecordingConfig {
  /** A client may ask not to be recorded (`/ws?record=off`). */
  optOut: boolean;
  /** Where the recordings API is (`<base>/api/recordings`): another origin, or this page's. */
  apiBase: string;
}

export function parseRecording(body: unknown, pageOrigin: string): RecordingConfig | null {
  if (typeof body !== "object" || body === null) return null;
  const recording = (body as { recording?: unknown }).recording;
  if (typeof recording !== "object" || recording === null) return null;
  const { optOut, url } = recording as { optOut?: unknown; url?: unknown };
  let apiBase = pageOrigin;
  if (typeof url === "string" && url.trim()) {
    try {
      const parsed = new URL(url.trim(), pageOrigin);
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
      apiBase = parsed.href.replace(/\/+$/, "");
    } catch {
      return null;
    }
  }
  return { optOut: optOut === true, apiBase };
}
