// Kiosk mode: a fixed API key, offered as `key.<k>`.

import type { Credential } from "./credential";

const STORAGE_KEY = "voice.apiKey";

export function apiKeyCredential(key: string, remember: boolean): Credential {
  sessionStorage.setItem(STORAGE_KEY, key);
  if (remember) localStorage.setItem(STORAGE_KEY, key);
  return {
    kind: "key",
    displayName: "API key",
    subprotocol: async () => `key.${key}`,
    renew: async () => null,
    onRenewed: () => () => undefined,
    signOut: async () => {
      sessionStorage.removeItem(STORAGE_KEY);
      localStorage.removeItem(STORAGE_KEY);
    },
  };
}

export function storedApiKey(): Credential | null {
  const key = sessionStorage.getItem(STORAGE_KEY) ?? localStorage.getItem(STORAGE_KEY);
  return key ? apiKeyCredential(key, localStorage.getItem(STORAGE_KEY) !== null) : null;
}
