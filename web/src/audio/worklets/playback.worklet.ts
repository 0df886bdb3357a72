// Runs in the audio rendering thread: assistant audio (PCM16 at the session's `outputRate`, 24 kHz
// unless the engine declares another) through a small jitter buffer to the speakers. It measures what it actually plays, which is what moves the avatar's mouth.

import { JitterBuffer } from "../jitterBuffer";
import { pcm16ToFloat } from "../pcm";
import { StreamResampler } from "../resampler";
import type { PlaybackCommand, PlaybackOptions, PlaybackReport } from "./messages";

/** Render blocks (128 frames each) between level reports: about 21 ms at 24 kHz. */
const REPORT_EVERY_BLOCKS = 4;

class PlaybackProcessor extends AudioWorkletProcessor implements AudioWorkletProcessorImpl {
  private readonly buffer: JitterBuffer;
  /** Only when the context does not run at the source rate. */
  private resampler: StreamResampler | null;
  private blocks = 0;
  private sumSquares = 0;
  private counted = 0;
  private wasPlaying = false;

  constructor(options: { processorOptions?: unknown }) {
    super();
    const { sourceRate, targetMs, maxSeconds } = options.processorOptions as PlaybackOptions;
    this.buffer = new JitterBuffer({
      targetSamples: Math.round((sampleRate * targetMs) / 1000),
      maxSamples: Math.round(sampleRate * maxSeconds),
    });
    this.resampler = PlaybackProcessor.resamplerFrom(sourceRate);
    this.port.onmessage = (event: MessageEvent<PlaybackCommand>) => this.onCommand(event.data);
  }

  private static resamplerFrom(sourceRate: number): StreamResampler | null {
    return sourceRate === sampleRate ? null : new StreamResampler(sourceRate, sampleRate);
  }

  private onCommand(command: PlaybackCommand): void {
    if (command.type === "push") {
      const samples = pcm16ToFloat(command.pcm);
      this.buffer.push(this.resampler ? this.resampler.process(samples) : samples);
    } else if (command.type === "rate") {
      // What is queued is at the context's rate already: only audio pushed from now on changes.
      if ((this.resampler?.inRate ?? sampleRate) !== command.sourceRate) {
        this.resampler = PlaybackProcessor.resamplerFrom(command.sourceRate);
      }
    } else {
      const dropped = this.buffer.flush();
      this.wasPlaying = false;
      this.sumSquares = 0;
      this.counted = 0;
      this.report({ type: "flushed", droppedMs: (dropped / sampleRate) * 1000 });
      this.report({ type: "level", rms: 0, bufferedMs: 0, playing: false });
    }
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const channels = outputs[0];
    const first = channels?.[0];
    if (!channels || !first) return true;
    const { played, ranDry } = this.buffer.pull(first);
    for (let c = 1; c < channels.length; c++) channels[c]!.set(first);
    if (played > 0 && !this.wasPlaying) {
      this.wasPlaying = true;
      this.report({ type: "started" });
    }
    for (let i = 0; i < played; i++) this.sumSquares += first[i]! * first[i]!;
    this.counted += first.length;
    if (ranDry && this.wasPlaying) {
      this.wasPlaying = false;
      this.report({ type: "drained" });
    }
    if (++this.blocks % REPORT_EVERY_BLOCKS === 0) {
      this.report({
        type: "level",
        rms: Math.sqrt(this.sumSquares / Math.max(1, this.counted)),
        bufferedMs: (this.buffer.buffered / sampleRate) * 1000,
        playing: this.wasPlaying,
      });
      this.sumSquares = 0;
      this.counted = 0;
    }
    return true;
  }

  private report(message: PlaybackReport): void {
    this.port.postMessage(message);
  }
}

registerProcessor("voice-playback", PlaybackProcessor);
