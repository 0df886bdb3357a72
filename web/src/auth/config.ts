// Which sign-in modes the edge offers, from GET /api/config (fetched by serverConfig.ts).

export interface OidcSettings {
  authority: string;
  clientId: string;
  redirectUri: string;
  scope: string;
}

export interface SignInOptions {
  apiKey: boolean;
  /** Where to ask the dev issuer for a token; null when it is off. */
  devTokenUrl: string | null;
  oidc: OidcSettings | null;
}

const DEFAULT_DEV_TOKEN_URL = "/api/dev/token";
const DEFAULT_SCOPE = "openid";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown): string => (typeof v === "string" ? v : "");

function oidcFrom(raw: unknown, pageOrigin: string): OidcSettings | null {
  if (!isObject(raw) || !text(raw.authority) || !text(raw.clientId)) return null;
  return {
    authority: text(raw.authority),
    clientId: text(raw.clientId),
    redirectUri: text(raw.redirectUri) || `${pageOrigin}/`,
    scope: text(raw.scope) || DEFAULT_SCOPE,
  };
}

/** Reads the edge's answer: `{"signIn": {apiKey, dev: {tokenUrl} | null, oidc: {...} | null}}`. */
export function parseSignInConfig(body: unknown, pageOrigin: string): SignInOptions {
  if (isObject(body) && isObject(body.signIn)) {
    const s = body.signIn;
    return {
      apiKey: s.apiKey !== false,
      devTokenUrl: isObject(s.dev) ? text(s.dev.tokenUrl) || DEFAULT_DEV_TOKEN_URL : null,
      oidc: oidcFrom(s.oidc, pageOrigin),
    };
  }
  throw new Error("the server's sign-in configuration is not understood");
}

/** An edge without /api/config (older) still takes API keys. */
export const API_KEY_ONLY: SignInOptions = { apiKey: true, devTokenUrl: null, oidc: null };
