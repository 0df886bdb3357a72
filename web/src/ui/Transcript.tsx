import { useEffect, useRef } from "react";
import { type TranscriptTurn, shownText } from "../conversation/transcript";

const SPEAKER = { user: "You", assistant: "Assistant" } as const;

export function Transcript({ turns }: { turns: TranscriptTurn[] }) {
  const end = useRef<HTMLDivElement>(null);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    // Follow the conversation unless the person scrolled up to read.
    const element = box.current;
    if (!element) return;
    const nearBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 160;
    if (nearBottom) end.current?.scrollIntoView({ block: "end" });
  }, [turns]);

  return (
    <div ref={box} className="transcript" role="log" aria-live="polite" aria-label="Conversation transcript" tabIndex={0}>
      {turns.length === 0 && <p className="transcript-empty">The conversation will appear here.</p>}
      {turns.map((turn) =>
        turn.role === "notice" ? (
          <p key={turn.key} className="turn-notice">
            {turn.finalText}
          </p>
        ) : (
          <TurnView key={turn.key} turn={turn} speaker={SPEAKER[turn.role]} />
        ),
      )}
      <div ref={end} />
    </div>
  );
}

function TurnView({ turn, speaker }: { turn: TranscriptTurn; speaker: string }) {
  const { final, speculative } = shownText(turn);
  return (
    <div
      className={`turn turn-${turn.role}${turn.interrupted ? " turn-interrupted" : ""}`}
      data-role={turn.role}
      data-turn-id={turn.turnId ?? ""}
      data-interrupted={turn.interrupted ? "true" : "false"}
      data-final={speculative ? "false" : "true"}
    >
      <div className="turn-meta">
        <span className="turn-speaker">{speaker}</span>
        {turn.typed && <span className="tag">typed</span>}
        {turn.interrupted && <span className="tag tag-interrupted">interrupted</span>}
      </div>
      <p className="turn-text">
        {final && <span className="text-final">{final}</span>}
        {final && speculative && " "}
        {speculative && (
          <span className="text-speculative" title="Not final yet">
            {speculative}
          </span>
        )}
      </p>
    </div>
  );
}
