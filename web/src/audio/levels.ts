// Signal levels for meters and the avatar's mouth.

/** Root mean square of a block of samples (0 for an empty block). */
export function rms(samples: Float32Array, start = 0, end = samples.length): number {
  if (end <= start) return 0;
  let sum = 0;
  for (let i = start; i < end; i++) {
    const s = samples[i]!;
    sum += s * s;
  }
  return Math.sqrt(sum / (end - start));
}

/** A level in [0, 1] on a dB scale from `floorDb` (0) to 0 dBFS (1): how loud it looks, not sounds. */
export function meterLevel(rmsValue: number, floorDb = -60): number {
  if (rmsValue <= 0) return 0;
  const db = 20 * Math.log10(rmsValue);
  return Math.min(1, Math.max(0, (db - floorDb) / -floorDb));
}
