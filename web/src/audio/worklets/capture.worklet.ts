// Runs in the audio rendering thread: the microphone at the device rate in, 16 kHz PCM16 frames out.

import { rms } from "../levels";
import { floatToPcm16 } from "../pcm";
import { StreamResampler } from "../resampler";
import type { CaptureFrame, CaptureOptions } from "./messages";

class CaptureProcessor extends AudioWorkletProcessor implements AudioWorkletProcessorImpl {
  private readonly resampler: StreamResampler;
  private readonly frame: Float32Array;
  private filled = 0;
  private mono = new Float32Array(128);

  constructor(options: { processorOptions?: unknown }) {
    super();
    const { targetRate, frameSamples } = options.processorOptions as CaptureOptions;
    this.resampler = new StreamResampler(sampleRate, targetRate);
    this.frame = new Float32Array(frameSamples);
  }

  process(inputs: Float32Array[][]): boolean {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true; // no input connected yet
    const resampled = this.resampler.process(this.downmix(channels));
    let offset = 0;
    while (offset < resampled.length) {
      const n = Math.min(resampled.length - offset, this.frame.length - this.filled);
      this.frame.set(resampled.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.frame.length) this.emit();
    }
    return true;
  }

  private downmix(channels: Float32Array[]): Float32Array {
    const first = channels[0]!;
    if (channels.length === 1) return first;
    if (this.mono.length !== first.length) this.mono = new Float32Array(first.length);
    this.mono.fill(0);
    for (const channel of channels) {
      for (let i = 0; i < channel.length; i++) this.mono[i]! += channel[i]! / channels.length;
    }
    return this.mono;
  }

  private emit(): void {
    const pcm = floatToPcm16(this.frame);
    const message: CaptureFrame = { type: "frame", pcm, rms: rms(this.frame) };
    this.port.postMessage(message, [pcm]);
    this.filled = 0;
  }
}

registerProcessor("voice-capture", CaptureProcessor);
