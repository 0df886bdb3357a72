import { describe, expect, it } from "vitest";
import { Motion } from "./motion";

/** A seeded generator, so that blinks and saccades are the same on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

/** Steps `motion` at 60 fps for `seconds` and collects the poses. */
function run(motion: Motion, seconds: number, activity: Parameters<Motion["update"]>[1], reduced = false) {
  const poses = [];
  for (let frame = 0; frame < seconds * 60; frame++) poses.push({ ...motion.update(frame / 60, activity, 0, reduced) });
  return poses;
}

describe("Motion", () => {
  it("blinks at natural intervals (every two to six seconds, 150 ms each)", () => {
    const poses = run(new Motion(seeded(3)), 60, "listening");
    const starts = poses.flatMap((p, i) => (p.blink > 0 && (poses[i - 1]?.blink ?? 0) === 0 ? [i / 60] : []));
    expect(starts.length).toBeGreaterThanOrEqual(10);
    expect(starts.length).toBeLessThanOrEqual(32);
    const shut = poses.filter((p) => p.blink > 0).length / 60;
    expect(shut / starts.length).toBeLessThan(0.3);
  });

  it("breathes and sways, unless motion is reduced: then the head stays still", () => {
    const moving = run(new Motion(seeded(1)), 5, "listening");
    expect(new Set(moving.map((p) => p.yaw.toFixed(4))).size).toBeGreaterThan(50);
    expect(moving.some((p) => p.breath !== 0)).toBe(true);
    const still = run(new Motion(seeded(1)), 5, "listening", true);
    for (const p of still) {
      expect([p.pitch, p.yaw, p.roll, p.breath, p.gazeSide].every((v) => v === 0)).toBe(true);
    }
  });

  it("looks up and aside and knits its brows while thinking, raises them when interrupted", () => {
    const motion = new Motion(seeded(5));
    const thinking = run(motion, 2, "thinking").at(-1)!;
    expect(thinking.gazeUp).toBeGreaterThan(0.15);
    expect(thinking.brows).toBeLessThan(-0.4);
    const interrupted = run(motion, 2, "interrupted").at(-1)!;
    expect(interrupted.brows).toBeGreaterThan(0.9);
  });

  it("settles exactly on an expression instead of creeping towards it", () => {
    const motion = new Motion(seeded(2));
    const poses = run(motion, 3, "speaking", true);
    expect(poses.at(-1)).toEqual(poses.at(-2));
  });
});
