// What of an interrupted answer the person heard: the audio received for the assistant's turn,
// minus what the playback flush dropped at the `stop`. The client reports it (`played`), so the
// turn's final transcript holds only what was played.

import type { ClientPlayed } from "../net/protocol";

export class HeardTracker {
  private turnId: number | null = null;
  private receivedMs = 0;
  private stopped: number | null = null;

  /** `outputRate`: Hz of the assistant's PCM16 audio. */
  constructor(private readonly outputRate: number) {}

  /** The assistant's side of `turnId` started: its audio follows. */
  turnStarted(turnId: number): void {
    this.turnId = turnId;
    this.receivedMs = 0;
  }

  audio(bytes: number): void {
    if (this.turnId !== null && this.stopped === null) this.receivedMs += (bytes / 2 / this.outputRate) * 1000;
  }

  /** `stop` for `turnId`: playback is being flushed. */
  stop(turnId: number): void {
    this.stopped = turnId;
  }

  /** The flush the `stop` asked for is done: the report to send, or null. */
  flushed(droppedMs: number): ClientPlayed | null {
    const turnId = this.stopped;
    this.stopped = null;
    if (turnId === null || turnId !== this.turnId) return null;
    return { type: "played", turnId, playedMs: Math.max(0, Math.round(this.receivedMs - droppedMs)) };
  }
}
