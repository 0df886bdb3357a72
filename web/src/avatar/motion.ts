// The avatar's life apart from its mouth: blinks at natural intervals, breathing and a slight sway,
// gaze towards the person with small saccades, and an expression for each activity. Plain numbers
// (radians, [0, 1] amounts), the same for the built-in head and an operator's model.

import type { Activity } from "../session/activity";

export interface Pose {
  /** Head rotation added to the rest pose (radians): nod (+ down), turn (+ to its left), tilt. */
  pitch: number;
  yaw: number;
  roll: number;
  /** Breathing, -1..1: the chest rises and the head bobs with it. */
  breath: number;
  /** 0 open .. 1 shut. */
  blink: number;
  /** Eyes' direction from straight at the person (radians): + up, + to its left. */
  gazeUp: number;
  gazeSide: number;
  /** Eyebrows: -1 knit (thinking) .. 1 raised (greeting, surprise). */
  brows: number;
  /** Smile, 0..1. */
  smile: number;
  /** Eyes wide open (surprise), 0..1. */
  wide: number;
}

const REST: Pose = { pitch: 0, yaw: 0, roll: 0, breath: 0, blink: 0, gazeUp: 0, gazeSide: 0, brows: 0, smile: 0.15, wide: 0 };

type Expression = Pick<Pose, "pitch" | "yaw" | "roll" | "gazeUp" | "gazeSide" | "brows" | "smile" | "wide">;

/** What each activity looks like: the face one reads at a glance. */
const EXPRESSIONS: Record<Activity, Expression> = {
  idle: { pitch: 0.03, yaw: 0, roll: 0, gazeUp: -0.05, gazeSide: 0, brows: 0, smile: 0.15, wide: 0 },
  connecting: { pitch: 0, yaw: 0.08, roll: 0.02, gazeUp: 0.05, gazeSide: 0.18, brows: 0.15, smile: 0.1, wide: 0 },
  greeting: { pitch: -0.03, yaw: 0, roll: 0.06, gazeUp: 0, gazeSide: 0, brows: 0.6, smile: 0.9, wide: 0.2 },
  listening: { pitch: 0.05, yaw: -0.03, roll: 0.08, gazeUp: 0, gazeSide: 0, brows: 0.3, smile: 0.3, wide: 0.1 },
  thinking: { pitch: -0.06, yaw: 0.1, roll: -0.05, gazeUp: 0.28, gazeSide: 0.22, brows: -0.6, smile: 0, wide: 0 },
  speaking: { pitch: 0, yaw: 0, roll: 0.02, gazeUp: 0, gazeSide: 0, brows: 0.1, smile: 0.3, wide: 0 },
  // Surprise in the brows and eyes; the mouth only shuts (it keeps the speaking smile), so that it
  // is still from the first frame after the `stop`.
  interrupted: { pitch: -0.08, yaw: 0, roll: 0, gazeUp: 0.05, gazeSide: 0, brows: 1, smile: 0.3, wide: 1 },
};

/** Seconds for an expression to settle (time constant of the easing). */
const SETTLE_S = 0.18;
/** A nod when the greeting starts: its length in seconds and depth in radians. */
const NOD_S = 0.9;
const NOD_RAD = 0.12;

/** Random numbers for blinks and saccades; injectable for tests. */
export type Random = () => number;

export class Motion {
  private pose: Pose = { ...REST };
  private nextBlinkAt = 0;
  private blinkStart = -Infinity;
  private doubleBlink = false;
  private nextSaccadeAt = 0;
  private saccadeUp = 0;
  private saccadeSide = 0;
  private activity: Activity = "idle";
  private activitySince = 0;
  private last = -1;

  constructor(private readonly random: Random = Math.random) {}

  /**
   * The pose at `now` (seconds) for `activity`. `loudness` (0..1, the mouth's opening) adds small
   * nods and eyebrow movement while speaking. With `reducedMotion` the head stays still (no sway,
   * breathing, nods or saccades): the expression shows in the brows, eyes and smile alone.
   */
  update(now: number, activity: Activity, loudness: number, reducedMotion: boolean): Readonly<Pose> {
    const dt = this.last < 0 ? 0 : Math.min(0.25, Math.max(0, now - this.last));
    this.last = now;
    if (activity !== this.activity) {
      // A change of mind is when people blink; a greeting starts with a nod.
      if (activity === "thinking" || activity === "listening") this.nextBlinkAt = Math.min(this.nextBlinkAt, now + 0.05);
      this.activity = activity;
      this.activitySince = now;
    }
    const target = EXPRESSIONS[activity];
    const ease = dt === 0 ? 1 : 1 - Math.exp(-dt / SETTLE_S);
    const p = this.pose;
    // Eases towards the target and then rests on it exactly: a value that only ever gets closer
    // would keep the picture shimmering by a shade.
    const toward = (key: keyof Expression, value: number) => {
      const gap = value - p[key];
      p[key] = Math.abs(gap) < 1e-3 ? value : p[key] + gap * ease;
    };

    const still = reducedMotion ? 0 : 1;
    const nodAge = now - this.activitySince;
    const nod = activity === "greeting" && nodAge < NOD_S ? Math.sin((nodAge / NOD_S) * Math.PI) * NOD_RAD : 0;
    const sway = still * (0.035 * Math.sin(now * 0.9) + 0.015 * Math.sin(now * 2.3 + 1));
    const speakingNod = activity === "speaking" || activity === "greeting" ? loudness * 0.05 : 0;

    toward("pitch", still * (target.pitch + nod + speakingNod + 0.01 * Math.sin(now * 1.3)));
    toward("yaw", still * (target.yaw + sway));
    toward("roll", still * (target.roll + 0.02 * Math.sin(now * 0.7 + 2)));
    toward("brows", target.brows + (activity === "speaking" ? loudness * 0.35 : 0));
    toward("smile", target.smile);
    toward("wide", target.wide);
    this.saccade(now, activity, reducedMotion);
    toward("gazeUp", target.gazeUp + this.saccadeUp);
    toward("gazeSide", target.gazeSide + this.saccadeSide);
    p.breath = still * Math.sin(now * 2 * Math.PI * 0.22);
    p.blink = this.blink(now);
    return p;
  }

  /** Blinks about every 2-6 s (people blink 15-20 times a minute), sometimes twice, 150 ms each. */
  private blink(now: number): number {
    if (now >= this.nextBlinkAt) {
      this.blinkStart = now;
      this.doubleBlink = this.random() < 0.12;
      this.nextBlinkAt = now + 2 + this.random() * 4;
    }
    const age = now - this.blinkStart;
    const one = (t: number) => (t < 0 || t > 0.15 ? 0 : t < 0.06 ? t / 0.06 : 1 - (t - 0.06) / 0.09);
    return Math.max(one(age), this.doubleBlink ? one(age - 0.22) : 0);
  }

  /** Small quick shifts of gaze around the person's face; fewer while listening, none when still. */
  private saccade(now: number, activity: Activity, reducedMotion: boolean): void {
    if (reducedMotion) {
      this.saccadeUp = this.saccadeSide = 0;
      return;
    }
    if (now < this.nextSaccadeAt) return;
    const reach = activity === "listening" ? 0.02 : activity === "thinking" ? 0.08 : 0.05;
    this.saccadeUp = (this.random() - 0.5) * reach;
    this.saccadeSide = (this.random() - 0.5) * reach * 2;
    this.nextSaccadeAt = now + 0.6 + this.random() * 1.8;
  }
}
