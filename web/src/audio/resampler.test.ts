import { describe, expect, it } from "vitest";
import { rms } from "./levels";
import { StreamResampler } from "./resampler";

function tone(rate: number, frequency: number, seconds: number, amplitude = 0.5): Float32Array {
  const out = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = amplitude * Math.sin((2 * Math.PI * frequency * i) / rate);
  return out;
}

function inChunks(resampler: StreamResampler, input: Float32Array, sizes: number[]): Float32Array {
  const parts: Float32Array[] = [];
  let offset = 0;
  for (let i = 0; offset < input.length; i++) {
    const size = sizes[i % sizes.length]!;
    parts.push(resampler.process(input.subarray(offset, offset + size)));
    offset += size;
  }
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Signal-to-error ratio in dB of `actual` against the ideal tone sampled at the output rate. */
function snrDb(actual: Float32Array, rate: number, frequency: number, amplitude: number, skip: number): number {
  let signal = 0;
  let error = 0;
  for (let i = skip; i < actual.length - skip; i++) {
    const ideal = amplitude * Math.sin((2 * Math.PI * frequency * i) / rate);
    signal += ideal * ideal;
    error += (actual[i]! - ideal) ** 2;
  }
  return 10 * Math.log10(signal / error);
}

describe("StreamResampler", () => {
  it("turns 48 kHz into 16 kHz with a clean, time-aligned tone", () => {
    const resampler = new StreamResampler(48000, 16000);
    const out = inChunks(resampler, tone(48000, 1000, 1), [128]);
    // The last few output samples wait for input that has not come yet.
    expect(out.length).toBeGreaterThan(16000 - 40);
    expect(out.length).toBeLessThanOrEqual(16000);
    expect(snrDb(out, 16000, 1000, 0.5, 100)).toBeGreaterThan(50);
  });

  it("handles a rate that is not an integer ratio (44.1 kHz)", () => {
    const out = inChunks(new StreamResampler(44100, 16000), tone(44100, 440, 1), [128]);
    expect(Math.abs(out.length - 16000)).toBeLessThan(40);
    expect(snrDb(out, 16000, 440, 0.5, 100)).toBeGreaterThan(50);
  });

  it("removes what lies above the new Nyquist frequency instead of folding it down", () => {
    const out = inChunks(new StreamResampler(48000, 16000), tone(48000, 11000, 1), [128]);
    const body = out.subarray(100, out.length - 100);
    expect(rms(body)).toBeLessThan(0.5 * Math.SQRT1_2 * 0.01); // at least 40 dB down
  });

  it("gives the same output whatever the block sizes", () => {
    const input = tone(48000, 700, 0.5);
    const whole = new StreamResampler(48000, 16000).process(input);
    const pieces = inChunks(new StreamResampler(48000, 16000), input, [1, 127, 3, 480, 64, 1000]);
    expect(pieces.length).toBe(whole.length);
    for (let i = 0; i < whole.length; i++) expect(pieces[i]).toBeCloseTo(whole[i]!, 5);
  });

  it("keeps the level of speech-band audio and the count of samples over a long stream", () => {
    const resampler = new StreamResampler(48000, 16000);
    const input = tone(48000, 300, 3, 0.25);
    const out = inChunks(resampler, input, [128]);
    expect(Math.abs(out.length - 48000)).toBeLessThan(40);
    expect(rms(out.subarray(100, out.length - 100))).toBeCloseTo(0.25 * Math.SQRT1_2, 2);
  });

  it("upsamples 16 kHz to 24 kHz", () => {
    const out = inChunks(new StreamResampler(16000, 24000), tone(16000, 1000, 1), [320]);
    expect(Math.abs(out.length - 24000)).toBeLessThan(40);
    expect(snrDb(out, 24000, 1000, 0.5, 100)).toBeGreaterThan(50);
  });

  it("passes audio through unchanged when the rates are equal", () => {
    const input = tone(16000, 1000, 0.01);
    expect(new StreamResampler(16000, 16000).process(input)).toEqual(input);
  });

  it("refuses rates that are not positive", () => {
    expect(() => new StreamResampler(0, 16000)).toThrow(RangeError);
  });
});
