// Dev sign-in: a user name traded for a short-lived JWT from the auth service's dev issuer, renewed
// before it expires. No cloud account needed; the edge validates it like any other JWT.

import { type Credential, RenewalListeners } from "./credential";

interface DevToken {
  name: string;
  token: string;
  /** Unix seconds. */
  expiresAt: number;
}

const STORAGE_KEY = "voice.devToken";
/** Renew this long before expiry. */
const RENEW_BEFORE_S = 60;

async function requestToken(tokenUrl: string, name: string): Promise<DevToken> {
  const response = await fetch(tokenUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username: name }),
  });
  if (!response.ok) {
    const detail = response.status === 404 ? "dev sign-in is turned off on this server" : `error ${response.status}`;
    throw new Error(`Sign-in failed: ${detail}`);
  }
  const body = (await response.json()) as { token?: unknown; expiresAt?: unknown };
  if (typeof body.token !== "string" || typeof body.expiresAt !== "number") {
    throw new Error("Sign-in failed: the server's answer has no token");
  }
  return { name, token: body.token, expiresAt: body.expiresAt };
}

function makeCredential(tokenUrl: string, first: DevToken): Credential {
  let current = first;
  const renewed = new RenewalListeners();
  let timer: ReturnType<typeof setTimeout> | undefined;

  const store = () => sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ ...current, tokenUrl }));
  const renew = async (): Promise<string> => {
    current = await requestToken(tokenUrl, current.name);
    store();
    schedule();
    return current.token;
  };
  const schedule = () => {
    clearTimeout(timer);
    const inMs = Math.max(5_000, (current.expiresAt - RENEW_BEFORE_S) * 1000 - Date.now());
    timer = setTimeout(() => {
      renew().then(
        (token) => renewed.notify(token),
        () => schedule(), // the server may be restarting: try again later
      );
    }, inMs);
  };
  store();
  schedule();

  return {
    kind: "dev",
    displayName: current.name,
    subprotocol: async () => {
      const token = current.expiresAt - Date.now() / 1000 < RENEW_BEFORE_S / 2 ? await renew() : current.token;
      return `bearer.${token}`;
    },
    renew,
    onRenewed: (listener) => renewed.add(listener),
    signOut: async () => {
      clearTimeout(timer);
      sessionStorage.removeItem(STORAGE_KEY);
    },
  };
}

export async function devSignIn(tokenUrl: string, name: string): Promise<Credential> {
  return makeCredential(tokenUrl, await requestToken(tokenUrl, name.trim()));
}

export function storedDevSignIn(): Credential | null {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (!raw) return null;
  try {
    const saved = JSON.parse(raw) as DevToken & { tokenUrl: string };
    if (saved.expiresAt * 1000 <= Date.now()) return null;
    return makeCredential(saved.tokenUrl, saved);
  } catch {
    return null;
  }
}
