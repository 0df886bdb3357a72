// Cognito (or any OpenID Connect provider): authorization code with PKCE, silent renewal and
// sign-out, all through oidc-client-ts.

import { type User, UserManager, WebStorageStateStore } from "oidc-client-ts";
import type { OidcSettings } from "./config";
import { type Credential, RenewalListeners } from "./credential";

function managerFor(settings: OidcSettings): UserManager {
  return new UserManager({
    authority: settings.authority,
    client_id: settings.clientId,
    redirect_uri: settings.redirectUri,
    silent_redirect_uri: settings.redirectUri,
    post_logout_redirect_uri: settings.redirectUri,
    response_type: "code",
    scope: settings.scope,
    automaticSilentRenew: true,
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });
}

const isCallback = () => {
  const query = new URLSearchParams(window.location.search);
  return query.has("state") && (query.has("code") || query.has("error"));
};

function credentialFor(manager: UserManager, first: User): Credential {
  let user = first;
  const renewed = new RenewalListeners();
  manager.events.addUserLoaded((loaded) => {
    user = loaded;
    renewed.notify(loaded.access_token);
  });
  const name = (first.profile.preferred_username ?? first.profile.email ?? first.profile.sub) as string;
  return {
    kind: "oidc",
    displayName: name,
    subprotocol: async () => {
      if (user.expired) user = (await manager.signinSilent()) ?? user;
      return `bearer.${user.access_token}`;
    },
    renew: async () => {
      const fresh = await manager.signinSilent();
      if (fresh) user = fresh;
      return user.access_token;
    },
    onRenewed: (listener) => renewed.add(listener),
    signOut: async () => {
      await manager.removeUser();
      // Cognito has no standard end_session_endpoint; its hosted UI logs out at /logout.
      const metadata = await manager.metadataService.getMetadata().catch(() => null);
      if (metadata?.end_session_endpoint) {
        await manager.signoutRedirect();
      } else if (metadata?.authorization_endpoint?.includes(".amazoncognito.com/")) {
        const logout = new URL("/logout", metadata.authorization_endpoint);
        logout.searchParams.set("client_id", manager.settings.client_id);
        logout.searchParams.set("logout_uri", manager.settings.post_logout_redirect_uri ?? window.location.origin);
        window.location.assign(logout.toString());
      }
    },
  };
}

/** The signed-in user, finishing a redirect back from the provider when this page load is one. */
export async function restoreOidc(settings: OidcSettings): Promise<Credential | null> {
  const manager = managerFor(settings);
  if (isCallback()) {
    const user = await manager.signinCallback();
    window.history.replaceState(null, "", window.location.pathname);
    if (window.parent !== window) return null; // a silent renewal's hidden frame: nothing to show
    if (user) return credentialFor(manager, user);
  }
  const user = await manager.getUser();
  if (!user) return null;
  if (user.expired) {
    const renewed = await manager.signinSilent().catch(() => null);
    return renewed ? credentialFor(manager, renewed) : null;
  }
  return credentialFor(manager, user);
}

export async function startOidcSignIn(settings: OidcSettings): Promise<void> {
  await managerFor(settings).signinRedirect();
}
