import { type FormEvent, useState } from "react";
import { apiKeyCredential } from "../auth/apiKey";
import type { SignInOptions } from "../auth/config";
import type { Credential } from "../auth/credential";
import { devSignIn } from "../auth/devSignIn";
import { Notice } from "./Notice";

interface Props {
  options: SignInOptions;
  message: string | null;
  onSignedIn: (credential: Credential) => void;
}

export function SignIn({ options, message, onSignedIn }: Props) {
  const [name, setName] = useState("");
  const [key, setKey] = useState("");
  const [remember, setRemember] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setProblem(null);
    try {
      await action();
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  };

  const onDev = (event: FormEvent) => {
    event.preventDefault();
    if (options.devTokenUrl && name.trim()) {
      const url = options.devTokenUrl;
      void run(async () => onSignedIn(await devSignIn(url, name)));
    }
  };
  const onKey = (event: FormEvent) => {
    event.preventDefault();
    if (key.trim()) onSignedIn(apiKeyCredential(key.trim(), remember));
  };
  const oidc = options.oidc;
  const only = !options.devTokenUrl && !oidc;

  return (
    <main className="signin" id="main">
      <section className="card signin-card" aria-labelledby="signin-title">
        <h1 id="signin-title">Virtual Cloud Assistant</h1>
        <p className="lede">Sign in, press Engage, and ask about cloud storage, compute, databases, networking, security or pricing.</p>
        {message && <Notice tone="error" text={message} />}
        {problem && <Notice tone="error" text={problem} />}

        {options.devTokenUrl && (
          <form className="stack" onSubmit={onDev} aria-label="Developer sign-in">
            <label htmlFor="dev-name">Your name</label>
            <input
              id="dev-name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              autoComplete="username"
              maxLength={64}
              pattern="[A-Za-z0-9._@\-]+"
              title="Letters, digits and . _ @ -"
              required
              autoFocus
            />
            <button type="submit" className="button button-primary" disabled={busy || !name.trim()}>
              Sign in
            </button>
            <p className="hint">Development sign-in: no account needed.</p>
          </form>
        )}

        {oidc && (
          <div className="stack">
            <button
              type="button"
              className="button button-primary"
              disabled={busy}
              onClick={() => void run(async () => (await import("../auth/oidc")).startOidcSignIn(oidc))}
            >
              Sign in with your organisation
            </button>
          </div>
        )}

        {options.apiKey && (
          <details className="kiosk" open={only}>
            <summary>{only ? "Sign in with an API key" : "Kiosk: use an API key"}</summary>
            <form className="stack" onSubmit={onKey} aria-label="API key sign-in">
              <label htmlFor="api-key">API key</label>
              <input
                id="api-key"
                type="password"
                value={key}
                onChange={(e) => setKey(e.target.value)}
                autoComplete="off"
                spellCheck={false}
                required
              />
              <label className="checkbox">
                <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} />
                Remember on this device
              </label>
              <button type="submit" className="button" disabled={!key.trim()}>
                Use this key
              </button>
            </form>
          </details>
        )}
      </section>
    </main>
  );
}
