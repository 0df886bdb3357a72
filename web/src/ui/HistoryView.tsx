import { useCallback, useEffect, useRef, useState } from "react";
import type { Credential } from "../auth/credential";
import { type Recording, getRecording, listRecordings } from "../recordings/api";
import type { RecordingConfig } from "../recordings/config";
import { type Line, clock, lineAt, transcriptLines } from "../recordings/history";
import { Notice } from "./Notice";

interface Props {
  credential: Credential;
  recording: RecordingConfig;
  onBack: () => void;
}

/** Past conversations (the signed-in user's; an admin's: everyone's), each with its transcript and a
 * player; a click on a line plays from there. */
export function HistoryView({ credential, recording, onBack }: Props) {
  const [recordings, setRecordings] = useState<Recording[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [selected, setSelected] = useState<Recording | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);

  const load = useCallback(
    (cursor?: string) => {
      setLoading(true);
      listRecordings(recording.apiBase, credential, cursor).then(
        (page) => {
          setRecordings((shown) => (cursor ? [...shown, ...page.recordings] : page.recordings));
          setNext(page.next);
          setLoading(false);
        },
        (error: unknown) => {
          setFailure(error instanceof Error ? error.message : String(error));
          setLoading(false);
        },
      );
    },
    [credential, recording.apiBase],
  );
  useEffect(() => load(), [load]);

  const open = (sessionId: string) => {
    setFailure(null);
    getRecording(recording.apiBase, credential, sessionId).then(setSelected, (error: unknown) =>
      setFailure(error instanceof Error ? error.message : String(error)),
    );
  };

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          History
        </div>
        <div className="account">
          <button type="button" className="button button-quiet" onClick={onBack}>
            Back to the conversation
          </button>
        </div>
      </header>
      <main className="history" id="main">
        <section className="card history-list" aria-label="Past conversations">
          <h2>Past conversations</h2>
          {failure && <Notice tone="error" text={failure} />}
          {!loading && recordings.length === 0 && <p className="muted">No recorded conversation yet.</p>}
          <ul>
            {recordings.map((r) => (
              <li key={r.sessionId}>
                <button
                  type="button"
                  className="history-item"
                  aria-pressed={selected?.sessionId === r.sessionId}
                  onClick={() => open(r.sessionId)}
                >
                  <span>{new Date(r.startedAt * 1000).toLocaleString()}</span>
                  <span className="muted">
                    {clock(r.duration)} · {r.principal}
                  </span>
                </button>
              </li>
            ))}
          </ul>
          {next && (
            <button type="button" className="button button-quiet" disabled={loading} onClick={() => load(next)}>
              More
            </button>
          )}
        </section>
        {selected && <RecordingDetail key={selected.sessionId} recording={selected} />}
      </main>
    </div>
  );
}

function RecordingDetail({ recording }: { recording: Recording }) {
  const player = useRef<HTMLAudioElement>(null);
  const [time, setTime] = useState(0);
  const lines = transcriptLines(recording.turns);
  const playing = lineAt(lines, time);

  const playFrom = (line: Line) => {
    const audio = player.current;
    if (!audio) return;
    audio.currentTime = line.start;
    void audio.play();
  };

  return (
    <section className="card history-detail" aria-label="Recording">
      <h2>{new Date(recording.startedAt * 1000).toLocaleString()}</h2>
      <audio
        ref={player}
        controls
        preload="metadata"
        src={recording.audioUrl}
        onTimeUpdate={(event) => setTime(event.currentTarget.currentTime)}
        aria-label="Recording of the conversation"
      />
      <ol className="history-transcript">
        {lines.map((line) => (
          <li key={line.key}>
            <button
              type="button"
              className={`history-line history-${line.speaker === "You" ? "user" : "assistant"}`}
              aria-current={playing?.key === line.key ? "true" : undefined}
              onClick={() => playFrom(line)}
            >
              <span className="history-time">{clock(line.start)}</span>
              <span className="history-speaker">{line.speaker}</span>
              <span className="history-text">{line.text}</span>
              {line.interrupted && <span className="history-interrupted">interrupted</span>}
            </button>
          </li>
        ))}
      </ol>
    </section>
  );
}
