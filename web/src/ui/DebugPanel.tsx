import { useRef, useState } from "react";
import type { AvatarStatus } from "../avatar/status";
import type { Meters } from "../session/meters";
import type { SessionSnapshot } from "../session/voiceSession";
import { useAnimationFrame } from "./useAnimationFrame";

/** Below about -100 dBFS is digital silence as far as anyone can hear. */
const dB = (rms: number) => (rms > 1e-5 ? `${(20 * Math.log10(rms)).toFixed(1)} dBFS` : "−∞");

/** What the avatar shows and how fast it draws, e.g. "3D, built-in head, 60 fps, 1.9 ms/frame". */
function describeAvatar(a: AvatarStatus): string {
  if (a.renderer !== "3d") return a.renderer === "2d" ? "2D face (no WebGL)" : "loading…";
  const head = a.head === "built-in" ? "built-in head" : `${a.head} (${a.rig}${a.clip ? `, clip "${a.clip}"` : ""})`;
  const drawing = [a.software ? "software rendering" : "", a.scale < 1 ? `${Math.round(a.scale * 100)} % resolution` : ""];
  const how = drawing.filter(Boolean).join(", ");
  return `3D, ${head}, ${Math.round(a.fps)} fps, ${a.frameMs.toFixed(1)} ms/frame${how ? ` (${how})` : ""}`;
}

interface Props {
  snapshot: SessionSnapshot;
  meters: Meters;
  avatar: AvatarStatus;
}

/** Connection, session id, levels, counters, per-turn latency, the avatar, and the event log. */
export function DebugPanel({ snapshot, meters, avatar }: Props) {
  const live = useRef<HTMLDListElement>(null);
  const avatarProblem = useRef<HTMLParagraphElement>(null);
  const [copied, setCopied] = useState(false);
  const lastUpdate = useRef(0);
  useAnimationFrame((now) => {
    if (now - lastUpdate.current < 150 || !live.current) return;
    lastUpdate.current = now;
    const set = (name: string, value: string) => {
      const cell = live.current?.querySelector<HTMLElement>(`[data-meter="${name}"]`);
      if (cell && cell.textContent !== value) cell.textContent = value;
    };
    set("mic", dB(meters.micLevel));
    set("out", dB(meters.outLevel));
    set("buffered", `${Math.round(meters.bufferedMs)} ms`);
    set("chunks-in", `${meters.audioChunksIn} (${(meters.bytesIn / 1024).toFixed(1)} KiB)`);
    set("frames-out", `${meters.framesOut} (${(meters.bytesOut / 1024).toFixed(1)} KiB)`);
    set("stops", `${meters.stops} (${Math.round(meters.flushedMs)} ms dropped)`);
    set("avatar", describeAvatar(avatar));
    const problem = avatarProblem.current;
    if (problem && problem.textContent !== (avatar.problem ?? "")) {
      problem.textContent = avatar.problem ?? "";
      problem.hidden = !avatar.problem;
    }
  });
  const copy = () => {
    if (!snapshot.sessionId) return;
    void navigator.clipboard?.writeText(snapshot.sessionId).then(() => setCopied(true));
  };
  const latest = snapshot.latencies.at(-1);

  return (
    <details className="debug" data-testid="debug">
      <summary>Debug</summary>
      <div className="debug-grid">
        <dl ref={live} className="debug-stats">
          <dt>Connection</dt>
          <dd data-field="link">{snapshot.link}</dd>
          <dt>Session id</dt>
          <dd>
            <code data-field="session-id">{snapshot.sessionId ?? "—"}</code>
            {snapshot.sessionId && (
              <button type="button" className="link-button" onClick={copy}>
                {copied ? "copied" : "copy"}
              </button>
            )}
          </dd>
          <dt>Microphone</dt>
          <dd data-field="mic">{snapshot.mic}{snapshot.muted ? " (muted)" : ""}</dd>
          <dt>Input level</dt>
          <dd data-meter="mic">−∞</dd>
          <dt>Output level</dt>
          <dd data-meter="out">−∞</dd>
          <dt>Playback buffer</dt>
          <dd data-meter="buffered">0 ms</dd>
          <dt>Audio chunks in</dt>
          <dd data-meter="chunks-in">0</dd>
          <dt>Mic frames out</dt>
          <dd data-meter="frames-out">0</dd>
          <dt>Interruptions</dt>
          <dd data-meter="stops">0</dd>
          <dt>Latency (last)</dt>
          <dd data-field="latency">{latest ? `${latest.ms} ms after ${latest.from}` : "—"}</dd>
          <dt>Avatar</dt>
          <dd data-meter="avatar">loading…</dd>
        </dl>
        <div>
          <h3 className="debug-heading">Per-turn latency (end of speech → first audio)</h3>
          {snapshot.latencies.length === 0 ? (
            <p className="debug-empty">No answered turn yet.</p>
          ) : (
            <ol className="latencies">
              {snapshot.latencies.map((record, i) => (
                <li key={i}>
                  turn {record.turnId ?? "?"}: <strong>{record.ms} ms</strong> after {record.from}
                </li>
              ))}
            </ol>
          )}
        </div>
      </div>
      <p ref={avatarProblem} className="debug-notice" data-field="avatar-problem" role="status" hidden />
      <h3 className="debug-heading">Events</h3>
      <ol className="event-log" aria-label="Event log">
        {snapshot.log.map((entry) => (
          <li key={entry.id} className={`log-${entry.kind}`}>
            <time>{new Date(entry.at).toLocaleTimeString(undefined, { hour12: false })}</time>
            <span className="log-kind">{entry.kind}</span>
            <span className="log-text">{entry.text}</span>
          </li>
        ))}
      </ol>
    </details>
  );
}
