// Mouth shapes from the spectrum of the audio being played: a few visemes (closed, open, round,
// wide) and how far each is formed.
//
// No lip-sync library from npm fits (web/README.md says which were weighed), so this is a small
// analysis of textbook phonetics. The shape of a vowel is in its first two formants (vocal-tract
// resonances): the jaw opens as F1 rises (/i/, /u/ ~300 Hz; /a/ ~750 Hz), the lips spread as F2
// rises (/i/ ~2300 Hz) and round as it falls (/u/, /o/ ~850 Hz). The formants are found by linear
// prediction (LPC) on the power spectrum: its inverse transform is the autocorrelation, Levinson's
// recursion fits an all-pole model, and the model's peaks are the resonances, which does not
// confuse them with the voice's pitch harmonics the way picking spectral peaks would. Loudness
// scales how far the shape is formed; a hiss (/s/, /f/) shows teeth; silence closes the mouth.

export type Viseme = "closed" | "open" | "round" | "wide";

/** How the mouth is formed, each in [0, 1]. */
export interface MouthShape {
  /** Jaw opening. */
  open: number;
  /** Lip rounding and protrusion (/u/, /o/). */
  round: number;
  /** Lip spreading (/i/, /e/, and a hiss). */
  wide: number;
  /** The dominant shape. */
  viseme: Viseme;
}

export const CLOSED: Readonly<MouthShape> = Object.freeze({ open: 0, round: 0, wide: 0, viseme: "closed" });

/** What one spectrum says, before it becomes a mouth shape (exported for tests and the debug panel). */
export interface VoiceFeatures {
  /** Level of 80 Hz–8 kHz in dBFS (RMS of a signal with that spectrum). */
  levelDb: number;
  /** First and second formants in Hz (NaN when none was found). */
  f1: number;
  f2: number;
  /** Energy above 4 kHz over energy below it, in dB: positive for a hiss. */
  hissDb: number;
}

/** Quieter than this (dBFS) is silence: the mouth stays shut. */
export const SILENCE_DB = -55;
/** The level (dBFS) at and above which a shape is fully formed; speech peaks around -20..-10. */
const FULL_DB = -24;
/** Formant analysis band: F1 and F2 of any voice lie well below 4 kHz. */
const LPC_TOP_HZ = 4000;
/** Poles of the all-pole model: two per expected resonance below LPC_TOP_HZ, plus two for the tilt. */
const LPC_ORDER = 10;
/** Resonances below this are the voice's pitch, not a formant (men's F1 is rarely under 250 Hz). */
const MIN_FORMANT_HZ = 200;
/** Wider poles than this model the spectrum's tilt, not a resonance of the vocal tract. */
const MAX_BANDWIDTH_HZ = 600;
/** Pre-emphasis (as in speech coding): flattens the voice's -6 dB/octave tilt before LPC. */
const PRE_EMPHASIS = 0.94;
/** Blackman window power (mean of w²): AnalyserNode's bins read low by this much. */
const BLACKMAN_POWER = 0.3046;

/**
 * Features of one frame of AnalyserNode.getFloatFrequencyData: `db[k]` is the level in dB of bin
 * `k` at `k * binHz` Hz (Blackman window, magnitude / fftSize, as the Web Audio spec computes it),
 * `sampleRate` the context's. -Infinity bins (digital silence) are fine.
 */
export function voiceFeatures(db: Float32Array, binHz: number, sampleRate: number): VoiceFeatures {
  const top = Math.min(db.length - 1, Math.floor(8000 / binHz));
  const split = Math.min(top, Math.round(4000 / binHz));
  const first = Math.max(1, Math.round(80 / binHz));
  let low = 0;
  let high = 0;
  for (let k = first; k <= top; k++) {
    const p = power(db[k]!);
    if (k < split) low += p;
    else high += p;
  }
  // Parseval for the one-sided, windowed, 1/N-scaled spectrum: the sum of bin powers is
  // rms² · mean(w²) / 2.
  const levelDb = 10 * Math.log10((low + high) / (BLACKMAN_POWER / 2) + 1e-20);
  const hissDb = 10 * Math.log10((high + 1e-20) / (low + 1e-20));
  if (levelDb < SILENCE_DB) return { levelDb, f1: NaN, f2: NaN, hissDb };
  const [f1, f2] = formants(db, binHz, sampleRate);
  return { levelDb, f1, f2, hissDb };
}

/** The mouth shape for a frame's features. */
export function mouthShape(f: VoiceFeatures): MouthShape {
  if (!(f.levelDb >= SILENCE_DB)) return { ...CLOSED };
  const loud = clamp((f.levelDb - SILENCE_DB) / (FULL_DB - SILENCE_DB));
  if (f.hissDb > 3 || Number.isNaN(f.f1)) {
    // A fricative: teeth close together, lips a little spread.
    return { open: 0.15 * loud, round: 0, wide: 0.6 * loud, viseme: "wide" };
  }
  const f2 = Number.isNaN(f.f2) ? f.f1 : f.f2;
  const opening = clamp((f.f1 - 250) / 500);
  const wide = clamp((f2 - 1400) / 600);
  const round = clamp((1250 - f2) / 350) * (1 - clamp((f.f1 - 650) / 200));
  const open = loud * (0.25 + 0.75 * opening);
  const scores: [Viseme, number][] = [
    ["open", opening * (1 - round) * (1 - wide)],
    ["round", round],
    ["wide", wide],
  ];
  scores.sort((a, b) => b[1] - a[1]);
  return { open, round: round * loud, wide: wide * loud, viseme: scores[0]![0] };
}

/** The mouth shape for one spectrum: `mouthShape(voiceFeatures(...))`. */
export function analyseSpectrum(db: Float32Array, binHz: number, sampleRate: number): MouthShape {
  return mouthShape(voiceFeatures(db, binHz, sampleRate));
}

const power = (db: number) => (db > -200 ? 10 ** (db / 10) : 0);
const clamp = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

/** Cosine tables by bin count: the autocorrelation's transform is fixed for a given analyser. */
const cosTables = new Map<number, Float32Array[]>();

function cosTable(bins: number): Float32Array[] {
  const key = bins;
  let table = cosTables.get(key);
  if (!table) {
    table = [];
    for (let m = 0; m <= LPC_ORDER; m++) {
      const row = new Float32Array(bins + 1);
      for (let k = 0; k <= bins; k++) row[k] = Math.cos((Math.PI * m * k) / bins);
      table.push(row);
    }
    cosTables.set(key, table);
  }
  return table;
}

/**
 * F1 and F2 in Hz from the band 0..LPC_TOP_HZ, taken as the whole spectrum of a signal sampled at
 * twice that rate: autocorrelation by the inverse cosine transform of the power spectrum, LPC by
 * Levinson-Durbin, then the peaks of the model's envelope above 150 Hz.
 */
function formants(db: Float32Array, binHz: number, sampleRate: number): [number, number] {
  const bins = Math.min(db.length - 1, Math.round(LPC_TOP_HZ / binHz));
  const table = cosTable(bins);
  const p = new Float64Array(bins + 1);
  for (let k = 0; k <= bins; k++) {
    const w = (2 * Math.PI * k * binHz) / sampleRate;
    const emphasis = 1 + PRE_EMPHASIS * PRE_EMPHASIS - 2 * PRE_EMPHASIS * Math.cos(w);
    p[k] = power(db[k]!) * emphasis;
  }
  const r = new Float64Array(LPC_ORDER + 1);
  for (let m = 0; m <= LPC_ORDER; m++) {
    const row = table[m]!;
    let sum = 0.5 * (p[0]! + p[bins]! * row[bins]!);
    for (let k = 1; k < bins; k++) sum += p[k]! * row[k]!;
    r[m] = sum;
  }
  if (!(r[0]! > 0)) return [NaN, NaN];
  r[0]! *= 1 + 1e-6; // a hair of white noise keeps the recursion stable on pure tones
  const a = levinson(r);
  // The model's poles are the resonances: their angles give the frequencies, their radii the
  // bandwidths. Roots rather than peaks of the envelope, because two close formants (/o/: 570 and
  // 840 Hz) make one peak but stay two poles.
  const resonances: number[] = [];
  for (const [re, im] of roots(a)) {
    if (im <= 0) continue;
    const hz = (Math.atan2(im, re) / Math.PI) * LPC_TOP_HZ;
    const bandwidth = (-Math.log(Math.hypot(re, im)) / Math.PI) * 2 * LPC_TOP_HZ;
    if (hz >= MIN_FORMANT_HZ && bandwidth <= MAX_BANDWIDTH_HZ) resonances.push(hz);
  }
  resonances.sort((x, y) => x - y);
  return [resonances[0] ?? NaN, resonances[1] ?? NaN];
}

/** Levinson-Durbin: the prediction polynomial A(z) = 1 + a1 z^-1 + ... for autocorrelation r. */
function levinson(r: Float64Array): Float64Array {
  const order = r.length - 1;
  let a = new Float64Array(order + 1);
  a[0] = 1;
  let error = r[0]!;
  for (let i = 1; i <= order; i++) {
    let acc = r[i]!;
    for (let j = 1; j < i; j++) acc += a[j]! * r[i - j]!;
    const k = -acc / error;
    const next = a.slice();
    for (let j = 1; j < i; j++) next[j] = a[j]! + k * a[i - j]!;
    next[i] = k;
    a = next;
    error *= 1 - k * k;
    if (error <= 0) break;
  }
  return a;
}

/**
 * The complex roots of z^p + a1 z^(p-1) + ... + ap (the poles of 1/A(z)) by the Durand-Kerner
 * iteration: all roots at once, no deflation; a degree-10 polynomial converges in a few dozen steps.
 */
function roots(a: Float64Array): [number, number][] {
  const p = a.length - 1;
  const re = new Float64Array(p);
  const im = new Float64Array(p);
  for (let i = 0; i < p; i++) {
    // Distinct starting points spread round a circle inside the unit circle.
    const angle = (2 * Math.PI * i) / p + 0.4;
    re[i] = 0.9 * Math.cos(angle);
    im[i] = 0.9 * Math.sin(angle);
  }
  for (let iteration = 0; iteration < 200; iteration++) {
    let moved = 0;
    for (let i = 0; i < p; i++) {
      // numerator: the polynomial at root i (Horner); denominator: the product of differences.
      let nr = 1;
      let ni = 0;
      for (let j = 1; j <= p; j++) {
        const r = nr * re[i]! - ni * im[i]! + a[j]!;
        ni = nr * im[i]! + ni * re[i]!;
        nr = r;
      }
      let dr = 1;
      let di = 0;
      for (let j = 0; j < p; j++) {
        if (j === i) continue;
        const xr = re[i]! - re[j]!;
        const xi = im[i]! - im[j]!;
        const r = dr * xr - di * xi;
        di = dr * xi + di * xr;
        dr = r;
      }
      const d = dr * dr + di * di || 1e-30;
      const stepRe = (nr * dr + ni * di) / d;
      const stepIm = (ni * dr - nr * di) / d;
      re[i]! -= stepRe;
      im[i]! -= stepIm;
      moved = Math.max(moved, Math.abs(stepRe) + Math.abs(stepIm));
    }
    if (moved < 1e-9) break;
  }
  return Array.from(re, (r, i) => [r, im[i]!] as [number, number]);
}
