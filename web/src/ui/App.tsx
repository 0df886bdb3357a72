import { useCallback, useEffect, useState } from "react";
import { storedApiKey } from "../auth/apiKey";
import type { Credential } from "../auth/credential";
import { storedDevSignIn } from "../auth/devSignIn";
import { type ServerConfig, fetchServerConfig } from "../serverConfig";
import { ConversationView } from "./ConversationView";
import { HistoryView } from "./HistoryView";
import { Notice } from "./Notice";
import { SignIn } from "./SignIn";

type Loaded = { config: ServerConfig; credential: Credential | null };

async function load(): Promise<Loaded> {
  const config = await fetchServerConfig();
  const options = config.signIn;
  // The OpenID Connect library loads only where the server configured a provider.
  const oidc = options.oidc;
  const credential =
    (oidc ? await import("../auth/oidc").then((m) => m.restoreOidc(oidc)).catch(() => null) : null) ??
    (options.devTokenUrl ? storedDevSignIn() : null) ??
    (options.apiKey ? storedApiKey() : null);
  return { config, credential };
}

export function App() {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [history, setHistory] = useState(false);

  const retry = useCallback(() => {
    setFailure(null);
    load().then(setLoaded, (error: unknown) => setFailure(error instanceof Error ? error.message : String(error)));
  }, []);
  useEffect(retry, [retry]);

  const signOut = useCallback(
    (why: string | null) => {
      const credential = loaded?.credential;
      setMessage(why);
      setLoaded((current) => (current ? { ...current, credential: null } : current));
      void credential?.signOut();
    },
    [loaded],
  );

  if (failure) {
    return (
      <main className="signin" id="main">
        <section className="card signin-card">
          <h1>Virtual Cloud Assistant</h1>
          <Notice tone="error" text={`The server could not be reached: ${failure}`} />
          <button type="button" className="button button-primary" onClick={retry}>
            Try again
          </button>
        </section>
      </main>
    );
  }
  if (!loaded) {
    return (
      <main className="signin" id="main" aria-busy="true">
        <p className="loading">Loading…</p>
      </main>
    );
  }
  if (!loaded.credential) {
    return (
      <SignIn
        options={loaded.config.signIn}
        message={message}
        onSignedIn={(credential) => {
          setMessage(null);
          setLoaded({ ...loaded, credential });
        }}
      />
    );
  }
  const recording = loaded.config.recording;
  return (
    <>
      {/* The conversation stays mounted (and connected) while the history is shown. */}
      <div hidden={history && recording !== null}>
        <ConversationView
          key={loaded.credential.displayName}
          credential={loaded.credential}
          avatarModel={loaded.config.avatarModel}
          recorded={recording !== null}
          onHistory={recording ? () => setHistory(true) : undefined}
          onSignOut={signOut}
        />
      </div>
      {history && recording && (
        <HistoryView credential={loaded.credential} recording={recording} onBack={() => setHistory(false)} />
      )}
    </>
  );
}
