import { describe, expect, it } from "vitest";
import { SILENCE_DB, type Viseme, analyseSpectrum, voiceFeatures } from "./visemes";

// Vowels made as a formant synthesiser makes them (a glottal pulse train through a cascade of
// two-pole resonators, Klatt 1980), then analysed exactly as the page's AnalyserNode does: 1024
// samples at 24 kHz, Blackman window, DFT scaled by 1/N, 20·log10 of the magnitude.

const RATE = 24000;
const FFT = 1024;
const BIN_HZ = RATE / FFT;

/** Peterson & Barney (1952) averages: F1, F2, F3 in Hz. */
const MEN: Record<string, [number, number, number]> = {
  i: [270, 2290, 3010],
  e: [530, 1840, 2480],
  a: [730, 1090, 2440],
  o: [570, 840, 2410],
  u: [300, 870, 2240],
};
const WOMEN: Record<string, [number, number, number]> = {
  i: [310, 2790, 3310],
  e: [610, 2330, 2990],
  a: [850, 1220, 2810],
  o: [590, 920, 2710],
  u: [370, 950, 2670],
};
const BANDWIDTHS = [80, 100, 150];

/** A two-pole resonator at `hz` with bandwidth `bw`, unity gain at DC (Klatt's form). */
function resonate(x: Float64Array, hz: number, bw: number): Float64Array {
  const t = 1 / RATE;
  const c = -Math.exp(-2 * Math.PI * bw * t);
  const b = 2 * Math.exp(-Math.PI * bw * t) * Math.cos(2 * Math.PI * hz * t);
  const a = 1 - b - c;
  const y = new Float64Array(x.length);
  for (let n = 0; n < x.length; n++) y[n] = a * x[n]! + b * (y[n - 1] ?? 0) + c * (y[n - 2] ?? 0);
  return y;
}

/** `FFT` samples of a steady vowel at pitch `f0`, scaled to `rmsDb` dBFS. */
function vowel(formants: readonly number[], f0: number, rmsDb: number): Float64Array {
  const n = 4 * FFT;
  let x: Float64Array = new Float64Array(n);
  for (let i = 0; i < n; i += RATE / f0) x[Math.floor(i)] = 1;
  x = resonate(x, 0, 100); // the glottal pulse: -12 dB/octave
  formants.forEach((hz, i) => (x = resonate(x, hz, BANDWIDTHS[i]!)));
  const radiated = x.map((v, i) => v - (x[i - 1] ?? 0)); // lip radiation: +6 dB/octave
  return scale(radiated.slice(n - FFT), rmsDb);
}

function noise(rmsDb: number, seed = 1): Float64Array {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return scale(Float64Array.from({ length: FFT }, random), rmsDb);
}

/** White noise high-passed above 4 kHz: a hiss like /s/. */
function hiss(rmsDb: number): Float64Array {
  const white = noise(0, 7);
  const high = white.map((v, i) => v - 2 * (white[i - 1] ?? 0) + (white[i - 2] ?? 0));
  return scale(high, rmsDb);
}

function scale(x: Float64Array, rmsDb: number): Float64Array {
  const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  const gain = 10 ** (rmsDb / 20) / rms;
  return x.map((v) => v * gain);
}

/** What AnalyserNode.getFloatFrequencyData returns for this block (smoothingTimeConstant 0). */
function analyserDb(x: Float64Array): Float32Array {
  const out = new Float32Array(FFT / 2);
  const w = Array.from({ length: FFT }, (_, n) => 0.42 - 0.5 * Math.cos((2 * Math.PI * n) / FFT) + 0.08 * Math.cos((4 * Math.PI * n) / FFT));
  for (let k = 0; k < FFT / 2; k++) {
    let re = 0;
    let im = 0;
    for (let n = 0; n < FFT; n++) {
      const v = x[n]! * w[n]!;
      re += v * Math.cos((2 * Math.PI * k * n) / FFT);
      im -= v * Math.sin((2 * Math.PI * k * n) / FFT);
    }
    out[k] = 20 * Math.log10(Math.hypot(re, im) / FFT);
  }
  return out;
}

const EXPECTED: Record<string, Viseme> = { i: "wide", e: "wide", a: "open", o: "round", u: "round" };

describe("voiceFeatures", () => {
  it("reads the level of a vowel in dBFS", () => {
    for (const level of [-40, -25, -12]) {
      expect(voiceFeatures(analyserDb(vowel(MEN.a!, 120, level)), BIN_HZ, RATE).levelDb).toBeCloseTo(level, 0);
    }
  });

  it.each(Object.entries(MEN))("finds F1 and F2 of a man's /%s/ within 12 %%", (_, [f1, f2]) => {
    const features = voiceFeatures(analyserDb(vowel(MEN[_]!, 115, -20)), BIN_HZ, RATE);
    expect(Math.abs(features.f1 - f1) / f1).toBeLessThan(0.12);
    expect(Math.abs(features.f2 - f2) / f2).toBeLessThan(0.12);
  });

  it("calls digital silence and a faint noise floor silent", () => {
    expect(voiceFeatures(analyserDb(new Float64Array(FFT)), BIN_HZ, RATE).levelDb).toBeLessThan(SILENCE_DB);
    expect(voiceFeatures(analyserDb(noise(-70)), BIN_HZ, RATE).levelDb).toBeLessThan(SILENCE_DB);
  });
});

describe("analyseSpectrum", () => {
  it.each(Object.keys(MEN))("shapes a man's /%s/ (115 Hz)", (name) => {
    expect(analyseSpectrum(analyserDb(vowel(MEN[name]!, 115, -20)), BIN_HZ, RATE).viseme).toBe(EXPECTED[name]);
  });

  it.each(Object.keys(WOMEN))("shapes a woman's /%s/ (210 Hz)", (name) => {
    expect(analyseSpectrum(analyserDb(vowel(WOMEN[name]!, 210, -20)), BIN_HZ, RATE).viseme).toBe(EXPECTED[name]);
  });

  it("opens the jaw most for /a/ and least for /i/ and /u/", () => {
    const open = (name: string) => analyseSpectrum(analyserDb(vowel(MEN[name]!, 115, -20)), BIN_HZ, RATE).open;
    expect(open("a")).toBeGreaterThan(open("e"));
    expect(open("e")).toBeGreaterThan(open("i"));
    expect(open("o")).toBeGreaterThan(open("u"));
    expect(open("a")).toBeGreaterThan(0.7);
    expect(open("i")).toBeLessThan(0.45);
  });

  it("rounds the lips for /u/ and spreads them for /i/, not the other way round", () => {
    const u = analyseSpectrum(analyserDb(vowel(MEN.u!, 115, -20)), BIN_HZ, RATE);
    const i = analyseSpectrum(analyserDb(vowel(MEN.i!, 115, -20)), BIN_HZ, RATE);
    expect(u.round).toBeGreaterThan(0.8);
    expect(u.wide).toBe(0);
    expect(i.wide).toBeGreaterThan(0.8);
    expect(i.round).toBe(0);
  });

  it("forms the same vowel less when it is quieter", () => {
    const loud = analyseSpectrum(analyserDb(vowel(MEN.a!, 115, -20)), BIN_HZ, RATE);
    const soft = analyseSpectrum(analyserDb(vowel(MEN.a!, 115, -45)), BIN_HZ, RATE);
    expect(soft.viseme).toBe("open");
    expect(soft.open).toBeLessThan(loud.open);
    expect(soft.open).toBeGreaterThan(0);
  });

  it("keeps the mouth closed in silence and under a faint noise floor", () => {
    for (const block of [new Float64Array(FFT), noise(-70), vowel(MEN.a!, 115, -62)]) {
      expect(analyseSpectrum(analyserDb(block), BIN_HZ, RATE)).toEqual({ open: 0, round: 0, wide: 0, viseme: "closed" });
    }
  });

  it("shows teeth for a hiss", () => {
    const s = analyseSpectrum(analyserDb(hiss(-25)), BIN_HZ, RATE);
    expect(s.viseme).toBe("wide");
    expect(s.open).toBeLessThan(0.2);
  });
});
