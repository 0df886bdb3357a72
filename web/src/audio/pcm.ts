// PCM16 little-endian <-> Float32 samples, the wire format of the browser protocol.

/** Float samples in [-1, 1] to PCM16LE bytes; values past full scale are clipped, not wrapped. */
export function floatToPcm16(samples: Float32Array): ArrayBuffer {
  const buffer = new ArrayBuffer(samples.length * 2);
  const view = new DataView(buffer);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    // NaN (a broken input) becomes silence rather than poisoning the stream.
    const clipped = s > 1 ? 1 : s < -1 ? -1 : s === s ? s : 0;
    // Asymmetric scale so that -1 reaches -32768 and +1 reaches +32767 exactly.
    const value = clipped < 0 ? Math.round(clipped * 32768) : Math.round(clipped * 32767);
    view.setInt16(i * 2, value, true);
  }
  return buffer;
}

/** PCM16LE bytes to float samples; a trailing odd byte (never valid PCM16) is ignored. */
export function pcm16ToFloat(bytes: ArrayBuffer | ArrayBufferView): Float32Array {
  const view =
    bytes instanceof ArrayBuffer
      ? new DataView(bytes)
      : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = Math.floor(view.byteLength / 2);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const value = view.getInt16(i * 2, true);
    out[i] = value < 0 ? value / 32768 : value / 32767;
  }
  return out;
}
