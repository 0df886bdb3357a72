// What the History view shows of a recording: its transcript lines, and which one is playing.

import type { RecordedTurn } from "./api";

export interface Line {
  key: string;
  speaker: "You" | "Assistant";
  text: string;
  /** Where playing this line starts, seconds into the recording. */
  start: number;
  end: number;
  interrupted: boolean;
}

/** The turns with words, in the order they were spoken. */
export function transcriptLines(turns: RecordedTurn[]): Line[] {
  return turns
    .filter((turn) => turn.text.trim() !== "")
    .sort((a, b) => a.start - b.start || a.turnId - b.turnId)
    .map((turn) => ({
      key: `${turn.role}-${turn.turnId}`,
      speaker: turn.role === "user" ? "You" : "Assistant",
      text: turn.text,
      start: turn.start,
      end: Math.max(turn.end, turn.start),
      interrupted: turn.interrupted,
    }));
}

/** The line playing at `time` seconds (the last one started by then), or null before the first. */
export function lineAt(lines: Line[], time: number): Line | null {
  let playing: Line | null = null;
  for (const line of lines) {
    if (line.start <= time + 0.05) playing = line;
  }
  return playing;
}

/** `m:ss` of a number of seconds. */
export function clock(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}
