import { describe, expect, it } from "vitest";
import { JitterBuffer } from "./jitterBuffer";

const ramp = (from: number, count: number) => Float32Array.from({ length: count }, (_, i) => from + i);

describe("JitterBuffer", () => {
  it("stays silent until the pre-buffer is full, then plays in order", () => {
    const buffer = new JitterBuffer({ targetSamples: 8, maxSamples: 100 });
    const out = new Float32Array(4);
    buffer.push(ramp(1, 5));
    expect(buffer.pull(out)).toEqual({ played: 0, ranDry: false });
    expect(Array.from(out)).toEqual([0, 0, 0, 0]);
    buffer.push(ramp(6, 5));
    expect(buffer.pull(out).played).toBe(4);
    expect(Array.from(out)).toEqual([1, 2, 3, 4]);
    expect(buffer.isPlaying).toBe(true);
    expect(buffer.buffered).toBe(6);
  });

  it("plays a short tail that never reaches the target once it has waited as long", () => {
    const buffer = new JitterBuffer({ targetSamples: 8, maxSamples: 100 });
    const out = new Float32Array(4);
    buffer.push(ramp(1, 3));
    buffer.pull(out);
    buffer.pull(out);
    expect(buffer.pull(out)).toEqual({ played: 3, ranDry: true });
    expect(Array.from(out)).toEqual([1, 2, 3, 0]);
  });

  it("pads with silence when it runs dry and pre-buffers again", () => {
    const buffer = new JitterBuffer({ targetSamples: 2, maxSamples: 100 });
    const out = new Float32Array(4);
    buffer.push(ramp(1, 6));
    buffer.pull(out);
    expect(buffer.pull(out)).toEqual({ played: 2, ranDry: true });
    expect(Array.from(out)).toEqual([5, 6, 0, 0]);
    expect(buffer.isPlaying).toBe(false);
    buffer.push(ramp(7, 1));
    expect(buffer.pull(out).played).toBe(0);
  });

  it("empties at once on flush, so the very next block is silent", () => {
    const buffer = new JitterBuffer({ targetSamples: 4, maxSamples: 1000 });
    const out = new Float32Array(4);
    buffer.push(ramp(1, 400));
    buffer.pull(out);
    expect(buffer.flush()).toBe(396);
    expect(buffer.buffered).toBe(0);
    expect(buffer.pull(out).played).toBe(0);
    expect(Array.from(out)).toEqual([0, 0, 0, 0]);
  });

  it("after a flush, new audio pre-buffers and plays from its own start", () => {
    const buffer = new JitterBuffer({ targetSamples: 4, maxSamples: 1000 });
    const out = new Float32Array(4);
    buffer.push(ramp(1, 10));
    buffer.pull(out);
    buffer.flush();
    buffer.push(ramp(100, 4));
    buffer.pull(out);
    expect(Array.from(out)).toEqual([100, 101, 102, 103]);
  });

  it("grows past its first allocation and keeps order across the ring's wrap", () => {
    const buffer = new JitterBuffer({ targetSamples: 0, maxSamples: 1 << 20 });
    const out = new Float32Array(1000);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      buffer.push(ramp(next, 1500));
      next += 1500;
      const { played } = buffer.pull(out);
      for (let i = 0; i < played; i++) expect(out[i]).toBe(expected++);
    }
    expect(buffer.buffered).toBe(next - expected);
  });

  it("drops the oldest audio when full, so playback never lags more than the maximum", () => {
    const buffer = new JitterBuffer({ targetSamples: 0, maxSamples: 8 });
    buffer.push(ramp(1, 6));
    buffer.push(ramp(7, 6));
    expect(buffer.buffered).toBe(8);
    expect(buffer.overflowed).toBe(4);
    const out = new Float32Array(8);
    buffer.pull(out);
    expect(Array.from(out)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it("refuses a target larger than the maximum", () => {
    expect(() => new JitterBuffer({ targetSamples: 10, maxSamples: 5 })).toThrow(RangeError);
  });
});
