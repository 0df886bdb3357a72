// Assistant speech out: PCM16 at the session's `outputRate` (24 kHz unless the engine declares
// another, as the loopback echo does at 16 kHz) into the playback worklet's jitter buffer. An AnalyserNode taps
// the worklet's output, so the avatar's mouth follows what is actually played.

import playbackWorkletUrl from "./worklets/playback.worklet.ts?worker&url";
import { startWorklet } from "./workletNode";
import type { PlaybackCommand, PlaybackOptions, PlaybackReport } from "./worklets/messages";

export const OUTPUT_RATE = 24000;
/** Pre-buffer before playback starts: covers ordinary network jitter at little delay. */
const JITTER_TARGET_MS = 60;
/** Engines send answers faster than real time; hold up to this much. */
const MAX_BUFFER_SECONDS = 120;
/** Spectrum window: about 43 ms (1024 samples at 24 kHz), 23 Hz bins: fine enough for formants. */
const SPECTRUM_WINDOW_S = 0.0427;

export class Player {
  private constructor(
    private readonly context: AudioContext,
    private readonly node: AudioWorkletNode,
    private readonly analyser: AnalyserNode,
  ) {}

  static async open(onReport: (report: PlaybackReport) => void, sourceRate = OUTPUT_RATE): Promise<Player> {
    let context: AudioContext;
    try {
      // Running the context at the source rate keeps resampling out of the worklet.
      context = new AudioContext({ sampleRate: sourceRate, latencyHint: "interactive" });
    } catch {
      context = new AudioContext({ latencyHint: "interactive" });
    }
    const node = await startWorklet<PlaybackOptions, PlaybackReport>(context, {
      url: playbackWorkletUrl,
      processor: "voice-playback",
      inputs: 0,
      options: { sourceRate, targetMs: JITTER_TARGET_MS, maxSeconds: MAX_BUFFER_SECONDS },
      onMessage: onReport,
    });
    // Unsmoothed: the lip sync smooths the shapes it derives, not the spectrum.
    const fftSize = 2 ** Math.round(Math.log2(context.sampleRate * SPECTRUM_WINDOW_S));
    const analyser = new AnalyserNode(context, { fftSize, smoothingTimeConstant: 0 });
    node.connect(analyser);
    return new Player(context, node, analyser);
  }

  get contextRate(): number {
    return this.context.sampleRate;
  }

  /** Bins of `readSpectrum`, `binHz` apart from 0 Hz. */
  get binCount(): number {
    return this.analyser.frequencyBinCount;
  }

  get binHz(): number {
    return this.context.sampleRate / this.analyser.fftSize;
  }

  /** The spectrum in dB of the last ~43 ms played (Blackman window, magnitude / fftSize). */
  readSpectrum(into: Float32Array<ArrayBuffer>): void {
    this.analyser.getFloatFrequencyData(into);
  }

  /** Queues PCM16LE audio; the buffer is handed over to the audio thread, not copied. */
  push(pcm: ArrayBuffer): void {
    const command: PlaybackCommand = { type: "push", pcm };
    this.node.port.postMessage(command, [pcm]);
  }

  /** The rate of the audio pushed from now on: the `session` event's `outputRate`, which the
   * context, opened before the session (inside the click), may not run at. */
  setSourceRate(sourceRate: number): void {
    const command: PlaybackCommand = { type: "rate", sourceRate };
    this.node.port.postMessage(command);
  }

  /** Drops everything queued: the next render block is silent. */
  flush(): void {
    const command: PlaybackCommand = { type: "flush" };
    this.node.port.postMessage(command);
  }

  close(): void {
    this.node.port.onmessage = null;
    void this.context.close();
  }
}
