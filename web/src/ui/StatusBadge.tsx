import type { Activity } from "../session/activity";

const LABELS: Record<Activity, string> = {
  idle: "Not connected",
  connecting: "Connecting…",
  greeting: "Greeting",
  listening: "Listening",
  thinking: "Thinking…",
  speaking: "Speaking",
  interrupted: "Interrupted",
};

export function StatusBadge({ activity }: { activity: Activity }) {
  return (
    <div className={`status status-${activity}`} role="status" aria-live="polite" data-activity={activity}>
      <span className="status-dot" aria-hidden="true" />
      {LABELS[activity]}
    </div>
  );
}
