// Fast-changing numbers (levels, counters) that the page reads at animation rate instead of
// re-rendering React for every audio block.

export interface Meters {
  /** RMS of the last microphone frame. */
  micLevel: number;
  /** RMS of what the playback worklet actually played in its last report. */
  outLevel: number;
  bufferedMs: number;
  /** The playback worklet is producing assistant audio right now. */
  playing: boolean;
  audioChunksIn: number;
  bytesIn: number;
  framesOut: number;
  bytesOut: number;
  stops: number;
  /** Audio dropped by interruptions, in ms. */
  flushedMs: number;
}

export const newMeters = (): Meters => ({
  micLevel: 0,
  outLevel: 0,
  bufferedMs: 0,
  playing: false,
  audioChunksIn: 0,
  bytesIn: 0,
  framesOut: 0,
  bytesOut: 0,
  stops: 0,
  flushedMs: 0,
});
