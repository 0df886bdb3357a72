import { describe, expect, it } from "vitest";
import { floatToPcm16, pcm16ToFloat } from "./pcm";

function int16s(buffer: ArrayBuffer): number[] {
  const view = new DataView(buffer);
  return Array.from({ length: buffer.byteLength / 2 }, (_, i) => view.getInt16(i * 2, true));
}

describe("floatToPcm16", () => {
  it("maps full scale to the int16 limits and zero to zero", () => {
    expect(int16s(floatToPcm16(new Float32Array([0, 1, -1, 0.5, -0.5])))).toEqual([
      0, 32767, -32768, 16384, -16384,
    ]);
  });

  it("clips instead of wrapping around", () => {
    expect(int16s(floatToPcm16(new Float32Array([1.7, -3, 1e9])))).toEqual([32767, -32768, 32767]);
  });

  it("turns NaN into silence", () => {
    expect(int16s(floatToPcm16(new Float32Array([Number.NaN])))).toEqual([0]);
  });

  it("writes little-endian bytes, two per sample", () => {
    const bytes = new Uint8Array(floatToPcm16(new Float32Array([1 / 32767])));
    expect(Array.from(bytes)).toEqual([1, 0]);
  });
});

describe("pcm16ToFloat", () => {
  it("reads little-endian int16 into [-1, 1]", () => {
    const bytes = new Uint8Array([0x00, 0x00, 0xff, 0x7f, 0x00, 0x80, 0x01, 0x00]);
    const floats = pcm16ToFloat(bytes.buffer);
    expect(Array.from(floats)).toEqual([0, 1, -1, Math.fround(1 / 32767)]);
  });

  it("honours the view's offset and ignores a trailing odd byte", () => {
    const bytes = new Uint8Array([9, 0xff, 0x7f, 7]);
    expect(Array.from(pcm16ToFloat(bytes.subarray(1)))).toEqual([1]);
  });

  it("round-trips every int16 value exactly", () => {
    const all = new Int16Array(65536);
    for (let i = 0; i < all.length; i++) all[i] = i - 32768;
    const back = new Int16Array(floatToPcm16(pcm16ToFloat(all.buffer)));
    expect(back).toEqual(all);
  });
});
