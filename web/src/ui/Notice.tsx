import type { Tone } from "../session/voiceSession";

export function Notice({ tone, text, onDismiss }: { tone: Tone; text: string; onDismiss?: () => void }) {
  return (
    <div className={`notice notice-${tone}`} role={tone === "error" ? "alert" : "status"}>
      <span>{text}</span>
      {onDismiss && (
        <button type="button" className="notice-close" onClick={onDismiss} aria-label="Dismiss">
          ×
        </button>
      )}
    </div>
  );
}
