// What the conversation needs from a sign-in, whatever its kind: the subprotocol that carries the
// credential to /ws, and fresh tokens when a bearer token is renewed.

export interface Credential {
  kind: "key" | "dev" | "oidc";
  /** Who is signed in, for the page to show. */
  displayName: string;
  /** `key.<k>` or `bearer.<jwt>`, fresh enough to connect with. */
  subprotocol(): Promise<string>;
  /** A renewed token for `{"type":"auth"}` (bearer tokens only; null for an API key). */
  renew(): Promise<string | null>;
  /** Listens for tokens the credential renewed on its own; returns the unsubscribe function. */
  onRenewed(listener: (token: string) => void): () => void;
  signOut(): Promise<void>;
}

/** Listeners of renewed tokens, shared by the bearer credentials. */
export class RenewalListeners {
  private readonly listeners = new Set<(token: string) => void>();

  add(listener: (token: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(token: string): void {
    for (const listener of this.listeners) listener(token);
  }
}
