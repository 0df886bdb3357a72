import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import type { Credential } from "../auth/credential";
import { newAvatarStatus } from "../avatar/status";
import type { LogKind } from "../session/eventLog";
import { VoiceSession } from "../session/voiceSession";
import { Avatar } from "./Avatar";
import { CameraView } from "./CameraView";
import { Composer } from "./Composer";
import { DebugPanel } from "./DebugPanel";
import { LevelMeter } from "./LevelMeter";
import { Notice } from "./Notice";
import { StatusBadge } from "./StatusBadge";
import { Transcript } from "./Transcript";

interface Props {
  credential: Credential;
  /** The operator's avatar model from /api/config, or null for the built-in head. */
  avatarModel: string | null;
  /** Conversations are recorded here: the page says so. */
  recorded?: boolean;
  /** Shows the History view (where conversations are recorded). */
  onHistory?: () => void;
  onSignOut: (message: string | null) => void;
}

export function ConversationView({ credential, avatarModel, recorded = false, onHistory, onSignOut }: Props) {
  const [session] = useState(() => new VoiceSession(credential));
  const [avatarStatus] = useState(newAvatarStatus);
  const note = useCallback((kind: LogKind, text: string) => session.note(kind, text), [session]);
  const snapshot = useSyncExternalStore(session.subscribe, session.getSnapshot);
  const [noticeHidden, setNoticeHidden] = useState(false);

  useEffect(() => () => session.dispose(), [session]);
  useEffect(() => setNoticeHidden(false), [snapshot.notice]);
  useEffect(() => {
    if (snapshot.signInNeeded) onSignOut(snapshot.notice?.text ?? "Please sign in again.");
  }, [snapshot.signInNeeded, snapshot.notice, onSignOut]);

  const { engaged, muted, activity } = snapshot;
  const talking = engaged && snapshot.link !== "closed";

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Virtual Cloud Assistant
        </div>
        <StatusBadge activity={activity} />
        <div className="account">
          {onHistory && (
            <button type="button" className="button button-quiet" onClick={onHistory}>
              History
            </button>
          )}
          <span className="account-name" title="Signed in as">
            {credential.displayName}
          </span>
          <button
            type="button"
            className="button button-quiet"
            onClick={() => {
              session.disconnect();
              onSignOut(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>

      <main className="stage" id="main">
        <section className="presence card" aria-label="Assistant">
          <Avatar
            lipSync={session.lipSync}
            activity={activity}
            modelUrl={avatarModel}
            status={avatarStatus}
            note={note}
          />
          {snapshot.notice && !noticeHidden && (
            <Notice tone={snapshot.notice.tone} text={snapshot.notice.text} onDismiss={() => setNoticeHidden(true)} />
          )}
          {snapshot.micProblem && <Notice tone="warning" text={snapshot.micProblem} />}
          {recorded && <p className="recorded-notice">This conversation is recorded.</p>}
          <div className="controls">
            {talking ? (
              <button type="button" className="button button-danger button-large" onClick={() => session.disconnect()}>
                Disconnect
              </button>
            ) : (
              <button type="button" className="button button-primary button-large" onClick={() => void session.engage()}>
                Engage
              </button>
            )}
            <button
              type="button"
              className="button"
              aria-pressed={muted}
              onClick={() => session.setMuted(!muted)}
              disabled={snapshot.mic === "unavailable"}
            >
              {muted ? "Unmute microphone" : "Mute microphone"}
            </button>
          </div>
          <LevelMeter label="Microphone" read={() => session.meters.micLevel} muted={muted || snapshot.mic !== "on"} />
          <CameraView />
        </section>

        <section className="conversation card" aria-label="Conversation">
          <Transcript turns={snapshot.turns} />
          <Composer
            onSend={(text) => session.sendText(text)}
            disabled={!talking || snapshot.link !== "open"}
            capabilities={snapshot.capabilities}
          />
        </section>
      </main>

      <DebugPanel snapshot={snapshot} meters={session.meters} avatar={avatarStatus} />
    </div>
  );
}
