// The playback queue: absorbs network jitter with a short pre-buffer, and empties at once on stop.

export interface JitterBufferOptions {
  /** Samples to gather before playback starts (or restarts after running dry). */
  targetSamples: number;
  /** Most samples held; past it the oldest are dropped so playback never lags further behind. */
  maxSamples: number;
}

export interface PullResult {
  /** Samples of real audio written (the rest of the block is silence). */
  played: number;
  /** True when the buffer ran dry inside this block: a turn ended or the network was late. */
  ranDry: boolean;
}

export class JitterBuffer {
  private readonly target: number;
  private readonly max: number;
  private ring: Float32Array;
  private read = 0;
  private size = 0;
  private playing = false;
  /** Samples of silence output while waiting for a partial pre-buffer to fill. */
  private waited = 0;
  /** Samples dropped because the buffer was full. */
  overflowed = 0;

  constructor({ targetSamples, maxSamples }: JitterBufferOptions) {
    if (targetSamples < 0 || maxSamples < targetSamples || maxSamples <= 0) {
      throw new RangeError("need 0 <= targetSamples <= maxSamples and maxSamples > 0");
    }
    this.target = targetSamples;
    this.max = maxSamples;
    this.ring = new Float32Array(Math.min(maxSamples, Math.max(4096, targetSamples * 4)));
  }

  get buffered(): number {
    return this.size;
  }

  get isPlaying(): boolean {
    return this.playing;
  }

  push(samples: Float32Array): void {
    let input = samples;
    if (input.length > this.max) {
      this.overflowed += input.length - this.max;
      input = input.subarray(input.length - this.max);
    }
    const excess = this.size + input.length - this.max;
    if (excess > 0) {
      this.drop(excess);
      this.overflowed += excess;
    }
    this.ensureCapacity(this.size + input.length);
    const capacity = this.ring.length;
    let write = (this.read + this.size) % capacity;
    let offset = 0;
    while (offset < input.length) {
      const n = Math.min(input.length - offset, capacity - write);
      this.ring.set(input.subarray(offset, offset + n), write);
      offset += n;
      write = (write + n) % capacity;
    }
    this.size += input.length;
  }

  /** Fills `out` with the next samples, or silence while pre-buffering or dry. */
  pull(out: Float32Array): PullResult {
    if (!this.playing) {
      // A short reply may never reach the target: start anyway once it has waited as long.
      if (this.size >= this.target || (this.size > 0 && this.waited >= this.target)) {
        this.playing = true;
        this.waited = 0;
      } else {
        if (this.size > 0) this.waited += out.length;
        out.fill(0);
        return { played: 0, ranDry: false };
      }
    }
    const n = Math.min(out.length, this.size);
    const capacity = this.ring.length;
    const first = Math.min(n, capacity - this.read);
    out.set(this.ring.subarray(this.read, this.read + first), 0);
    if (n > first) out.set(this.ring.subarray(0, n - first), first);
    this.read = (this.read + n) % capacity;
    this.size -= n;
    const ranDry = this.size === 0;
    if (n < out.length) out.fill(0, n);
    if (ranDry) this.playing = false;
    return { played: n, ranDry };
  }

  /** Drops everything queued (an interruption); returns how many samples were dropped. */
  flush(): number {
    const dropped = this.size;
    this.read = 0;
    this.size = 0;
    this.playing = false;
    this.waited = 0;
    return dropped;
  }

  private drop(count: number): void {
    const n = Math.min(count, this.size);
    this.read = (this.read + n) % this.ring.length;
    this.size -= n;
  }

  private ensureCapacity(needed: number): void {
    if (needed <= this.ring.length) return;
    let capacity = this.ring.length;
    while (capacity < needed) capacity *= 2;
    const grown = new Float32Array(Math.min(capacity, this.max));
    const first = Math.min(this.size, this.ring.length - this.read);
    grown.set(this.ring.subarray(this.read, this.read + first), 0);
    if (this.size > first) grown.set(this.ring.subarray(0, this.size - first), first);
    this.ring = grown;
    this.read = 0;
  }
}
