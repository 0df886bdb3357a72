// What the audio worklets and the page say to each other over their MessagePorts.

/** Microphone worklet -> page: one frame of 16 kHz PCM16 and its level. */
export interface CaptureFrame {
  type: "frame";
  pcm: ArrayBuffer;
  rms: number;
}

export interface CaptureOptions {
  targetRate: number;
  frameSamples: number;
}

/** Page -> playback worklet. `rate`: Hz of the PCM pushed from now on (the session's `outputRate`). */
export type PlaybackCommand =
  | { type: "push"; pcm: ArrayBuffer }
  | { type: "flush" }
  | { type: "rate"; sourceRate: number };

/** Playback worklet -> page. */
export type PlaybackReport =
  | {
      type: "level";
      /** RMS of what was actually played since the last report. */
      rms: number;
      bufferedMs: number;
      playing: boolean;
    }
  | { type: "started" }
  | { type: "drained" }
  | { type: "flushed"; droppedMs: number };

export interface PlaybackOptions {
  sourceRate: number;
  targetMs: number;
  maxSeconds: number;
}
