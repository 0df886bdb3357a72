// GET /api/config: what the edge tells the page before sign-in (services/edge/README.md).

import { API_KEY_ONLY, type SignInOptions, parseSignInConfig } from "./auth/config";
import { parseAvatarModel } from "./avatar/config";
import { type RecordingConfig, parseRecording } from "./recordings/config";

export interface ServerConfig {
  signIn: SignInOptions;
  /** The operator's avatar model (glTF/GLB URL), or null for the built-in head. */
  avatarModel: string | null;
  /** Conversations are recorded (the page says so, and offers the History view), or null. */
  recording: RecordingConfig | null;
}

export async function fetchServerConfig(pageOrigin = window.location.origin): Promise<ServerConfig> {
  const response = await fetch("/api/config", { headers: { Accept: "application/json" }, cache: "no-store" });
  if (response.status === 404) return { signIn: API_KEY_ONLY, avatarModel: null, recording: null };
  if (!response.ok) throw new Error(`the server answered ${response.status} for its sign-in configuration`);
  const body: unknown = await response.json();
  return {
    signIn: parseSignInConfig(body, pageOrigin),
    avatarModel: parseAvatarModel(body, pageOrigin),
    recording: parseRecording(body, pageOrigin),
  };
}
