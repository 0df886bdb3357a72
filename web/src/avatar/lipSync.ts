// The avatar's mouth, once per animation frame, from the spectrum of what the player is playing:
// shapes form quickly with the voice and relax a little slower, and the mouth shuts in the first
// frame after playback stops (a `stop` or the end of the answer).

import type { Meters } from "../session/meters";
import { CLOSED, type MouthShape, type Viseme, analyseSpectrum } from "./visemes";

/** Where the spectrum comes from: the player's AnalyserNode on the playback worklet's output. */
export interface SpectrumSource {
  readonly binCount: number;
  readonly binHz: number;
  readonly contextRate: number;
  readSpectrum(into: Float32Array<ArrayBuffer>): void;
}

/** Fraction of the way to a larger (attack) or smaller (release) value covered per 60 Hz frame. */
const ATTACK = 0.6;
const RELEASE = 0.3;
const FRAME_MS = 1000 / 60;
/** Below this opening the shape reads as closed. */
const CLOSED_BELOW = 0.04;

export class LipSync {
  private source: SpectrumSource | null = null;
  private spectrum = new Float32Array(0);
  private shape: MouthShape = { ...CLOSED };
  private readAt = -1;

  constructor(private readonly meters: Meters) {}

  /** The player to listen to (null when there is none). */
  attach(source: SpectrumSource | null): void {
    this.source = source;
    this.shape = { ...CLOSED };
  }

  /**
   * The mouth shape at `now` (ms, the animation frame's time). Several readers in one frame get the
   * same shape. The mouth is shut whenever the player is not playing: `stop` clears `meters.playing`
   * at once, while the analyser's window would still hold 43 ms of the voice.
   */
  read(now: number): Readonly<MouthShape> {
    if (now === this.readAt) return this.shape;
    const elapsed = this.readAt < 0 ? FRAME_MS : Math.min(250, Math.max(0, now - this.readAt));
    this.readAt = now;
    const source = this.source;
    if (!source || !this.meters.playing) {
      this.shape = { ...CLOSED };
      return this.shape;
    }
    if (this.spectrum.length !== source.binCount) this.spectrum = new Float32Array(source.binCount);
    source.readSpectrum(this.spectrum);
    const target = analyseSpectrum(this.spectrum, source.binHz, source.contextRate);
    const s = this.shape;
    const open = follow(s.open, target.open, elapsed);
    const viseme: Viseme = open < CLOSED_BELOW ? "closed" : target.viseme === "closed" ? s.viseme : target.viseme;
    this.shape = {
      open,
      round: follow(s.round, target.round, elapsed),
      wide: follow(s.wide, target.wide, elapsed),
      viseme,
    };
    return this.shape;
  }
}

function follow(current: number, target: number, elapsedMs: number): number {
  const rate = target > current ? ATTACK : RELEASE;
  return current + (target - current) * (1 - (1 - rate) ** (elapsedMs / FRAME_MS));
}
