// A streaming sample-rate converter: windowed-sinc interpolation with an anti-aliasing low-pass.
//
// It runs inside the microphone's AudioWorklet (the device rate, often 48 kHz or 44.1 kHz, down to
// the protocol's 16 kHz), so it keeps its filter history between blocks: splitting the input into
// chunks of any size gives the same output as one long block.

/** Zero crossings of the low-pass sinc on each side: more is sharper and costs more. */
const ZERO_CROSSINGS = 16;
/** Kernel table resolution, points per input sample (linear interpolation between them). */
const TABLE_STEPS = 64;
/** Pass band as a fraction of the output Nyquist frequency; the rest is the transition band. */
const PASS_FRACTION = 0.92;

export class StreamResampler {
  readonly inRate: number;
  readonly outRate: number;
  /** Input samples consumed per output sample. */
  private readonly step: number;
  /** Half the kernel length, in input samples. */
  private readonly halfWidth: number;
  private readonly table: Float32Array;
  /** Input not yet fully consumed, starting with `halfWidth` samples of silence (the filter's past). */
  private history: Float32Array;
  private historyLength: number;
  /** Position of the next output sample, in input samples from the start of `history`. The
   * history starts with `halfWidth` samples of silence, so output sample n lines up with input
   * instant n * step: no delay to compensate for. */
  private position: number;

  constructor(inRate: number, outRate: number) {
    if (!(inRate > 0 && outRate > 0)) throw new RangeError("sample rates must be positive");
    this.inRate = inRate;
    this.outRate = outRate;
    this.step = inRate / outRate;
    // Cut-off in cycles per input sample: below both Nyquist frequencies.
    const cutoff = 0.5 * Math.min(1, outRate / inRate) * PASS_FRACTION;
    this.halfWidth = Math.ceil(ZERO_CROSSINGS / (2 * cutoff));
    this.table = buildKernel(cutoff, this.halfWidth);
    this.history = new Float32Array(this.halfWidth * 4 + 1024);
    this.historyLength = this.halfWidth;
    this.position = this.halfWidth;
  }

  /** Resamples one block; returns the output samples that are complete so far. */
  process(input: Float32Array): Float32Array {
    if (this.inRate === this.outRate) return input.slice();
    this.append(input);
    const last = this.historyLength - this.halfWidth; // outputs need halfWidth samples ahead
    const count = Math.max(0, Math.ceil((last - this.position) / this.step));
    const out = new Float32Array(count);
    const history = this.history;
    const table = this.table;
    const half = this.halfWidth;
    for (let n = 0; n < count; n++) {
      const t = this.position;
      const centre = Math.floor(t);
      let acc = 0;
      // Taps k = centre - half + 1 .. centre + half, at distance |t - k| from the output instant.
      for (let k = centre - half + 1; k <= centre + half; k++) {
        const distance = Math.abs(t - k) * TABLE_STEPS;
        const index = Math.floor(distance);
        const weight = distance - index;
        const a = table[index] ?? 0;
        const b = table[index + 1] ?? 0;
        acc += history[k]! * (a + (b - a) * weight);
      }
      out[n] = acc;
      this.position = t + this.step;
    }
    this.discardConsumed();
    return out;
  }

  private append(input: Float32Array): void {
    const needed = this.historyLength + input.length;
    if (needed > this.history.length) {
      const grown = new Float32Array(Math.max(needed, this.history.length * 2));
      grown.set(this.history.subarray(0, this.historyLength));
      this.history = grown;
    }
    this.history.set(input, this.historyLength);
    this.historyLength = needed;
  }

  private discardConsumed(): void {
    // Keep the samples the next output still reaches back to.
    const keepFrom = Math.max(0, Math.floor(this.position) - this.halfWidth + 1);
    if (keepFrom === 0) return;
    this.history.copyWithin(0, keepFrom, this.historyLength);
    this.historyLength -= keepFrom;
    this.position -= keepFrom;
  }
}

/** The low-pass kernel h(x) for x in [0, halfWidth] input samples, Blackman-windowed, unit DC gain. */
function buildKernel(cutoff: number, halfWidth: number): Float32Array {
  const size = halfWidth * TABLE_STEPS + 2;
  const table = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const x = i / TABLE_STEPS;
    if (x >= halfWidth) {
      table[i] = 0;
      continue;
    }
    const arg = 2 * cutoff * x;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
    const w = x / halfWidth; // 0 at the centre, 1 at the edge
    const blackman = 0.42 + 0.5 * Math.cos(Math.PI * w) + 0.08 * Math.cos(2 * Math.PI * w);
    table[i] = 2 * cutoff * sinc * blackman;
  }
  return table;
}
