import { describe, expect, it } from "vitest";
import { parseSignInConfig } from "./config";

const origin = "http://127.0.0.1:8000";

describe("parseSignInConfig", () => {
  it("reads an OIDC (Cognito) client", () => {
    const body = {
      signIn: {
        apiKey: true,
        dev: null,
        oidc: { authority: "https://idp.example/pool", clientId: "abc", redirectUri: "https://app/", scope: "openid email" },
      },
    };
    expect(parseSignInConfig(body, origin)).toEqual({
      apiKey: true,
      devTokenUrl: null,
      oidc: { authority: "https://idp.example/pool", clientId: "abc", redirectUri: "https://app/", scope: "openid email" },
    });
  });

  it("reads the signIn shape with the dev issuer on", () => {
    const body = { signIn: { apiKey: true, dev: { tokenUrl: "/api/dev/token" }, oidc: null } };
    expect(parseSignInConfig(body, origin)).toEqual({ apiKey: true, devTokenUrl: "/api/dev/token", oidc: null });
  });

  it("fills in the redirect to this page and the openid scope", () => {
    const body = { signIn: { apiKey: false, dev: null, oidc: { authority: "https://idp", clientId: "c", redirectUri: null } } };
    expect(parseSignInConfig(body, origin).oidc).toEqual({
      authority: "https://idp",
      clientId: "c",
      redirectUri: `${origin}/`,
      scope: "openid",
    });
  });

  it("treats the dev issuer as off unless the server names its token endpoint", () => {
    expect(parseSignInConfig({ signIn: { apiKey: true, dev: "yes", oidc: null } }, origin).devTokenUrl).toBeNull();
  });

  it("refuses an answer it does not understand", () => {
    expect(() => parseSignInConfig({ hello: 1 }, origin)).toThrow();
  });
});
