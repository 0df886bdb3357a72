// Per-turn latency as the person feels it: from the end of their speech (the last voiced microphone
// frame sent) or from sending typed text, to the first audio of the answer arriving.

export interface LatencyRecord {
  turnId: number | null;
  ms: number;
  from: "speech" | "text";
}

export class LatencyTracker {
  private lastVoicedAt = -Infinity;
  private textSentAt = -Infinity;
  private awaiting = false;
  private turnId: number | null = null;

  voiceSent(at: number): void {
    this.lastVoicedAt = at;
  }

  textSent(at: number): void {
    this.textSentAt = at;
    this.awaiting = true;
    this.turnId = null;
  }

  /** The user's turn is over (its final transcript, or the assistant's turn started). */
  replyExpected(turnId: number | null): void {
    if (!this.awaiting || this.turnId === null) this.turnId = turnId;
    this.awaiting = true;
  }

  /** Audio arrived; returns the turn's latency when it is the first audio of an awaited answer. */
  audioArrived(at: number): LatencyRecord | null {
    if (!this.awaiting) return null;
    this.awaiting = false;
    const fromText = this.textSentAt >= this.lastVoicedAt;
    const start = fromText ? this.textSentAt : this.lastVoicedAt;
    if (!Number.isFinite(start)) return null;
    return { turnId: this.turnId, ms: Math.max(0, Math.round(at - start)), from: fromText ? "text" : "speech" };
  }

  /** An interruption or a new session: whatever was awaited will not come. */
  reset(): void {
    this.awaiting = false;
    this.turnId = null;
  }
}
