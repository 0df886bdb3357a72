// How an operator's model is driven, by the names it uses: morph targets of the common face rigs
// (ARKit blend shapes, Oculus/Meta visemes, VRoid's Fcl_*, a plain mouthOpen) or a jaw bone.
// Plain names and numbers, no three.js: the model loader applies the weights.

import type { Pose } from "./motion";
import type { MouthShape } from "./visemes";

export type MouthRig = "oculus-visemes" | "arkit" | "vroid" | "mouth-open" | "jaw-bone" | "none";

/** A morph target's name as compared here: lower case, no separators, no "blendShape1." style prefix. */
export function morphKey(name: string): string {
  const last = name.slice(name.lastIndexOf(".") + 1);
  return last.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** A bone that opens the mouth: "Jaw", "jaw_bone", "CC_Base_JawRoot", "DEF-jaw", not "Jaw_end". */
export function isJawBone(name: string): boolean {
  return /jaw/i.test(name) && !/(end|tip|nub|top)$/i.test(name.replace(/[^a-z]/gi, ""));
}

/** The head bone: "Head", "mixamorig:Head", "J_Bip_C_Head", not "HeadTop_End". */
export function isHeadBone(name: string): boolean {
  return /head$/i.test(name.replace(/[^a-z]/gi, ""));
}

/** An eye bone: "LeftEye", "eye_R", "J_Adj_L_FaceEye", not "eyelid" or "eyebrow". */
export function isEyeBone(name: string): boolean {
  return /eye/i.test(name) && !/(lid|brow|lash|end)/i.test(name);
}

/** Which family drives the mouth, by the targets present (keys from morphKey), else the jaw bone. */
export function mouthRig(keys: ReadonlySet<string>, hasJawBone: boolean): MouthRig {
  if (keys.has("visemeaa")) return "oculus-visemes";
  if (keys.has("jawopen")) return "arkit";
  if (keys.has("fclmtha")) return "vroid";
  if (keys.has("mouthopen")) return "mouth-open";
  return hasJawBone ? "jaw-bone" : "none";
}

const min1 = (x: number) => Math.min(1, Math.max(0, x));

/** Mouth targets by family, from the lip sync's shape. */
function mouthTargets(rig: MouthRig, m: Readonly<MouthShape>, smile: number): Record<string, number> {
  // Open vowels (/a/), rounded open (/o/) and closed (/u/), spread closed (/i/) and open (/e/).
  const roundOpen = min1(m.open * 1.5);
  const a = m.open * (1 - m.round) * (1 - m.wide);
  const o = m.round * roundOpen;
  const u = m.round * (1 - roundOpen);
  const e = m.wide * roundOpen;
  const i = m.wide * (1 - roundOpen);
  switch (rig) {
    case "oculus-visemes":
      return { visemeaa: a, visemeo: o, visemeu: u, visemee: e, visemei: i, visemesil: m.open > 0 ? 0 : 1 };
    case "arkit": {
      const spread = Math.max(m.wide * 0.35, smile * 0.5);
      return {
        jawopen: m.open * 0.75,
        mouthfunnel: m.round * roundOpen * 0.8,
        mouthpucker: m.round * 0.7,
        mouthstretchleft: m.wide * 0.45,
        mouthstretchright: m.wide * 0.45,
        mouthsmileleft: spread,
        mouthsmileright: spread,
      };
    }
    case "vroid":
      return { fclmtha: a, fclmtho: o, fclmthu: u, fclmthe: e, fclmthi: i };
    case "mouth-open":
      return { mouthopen: m.open };
    default:
      return {};
  }
}

/** Eyes, brows and smile by every family's names; only the ones a model has are applied. */
function faceTargets(rig: MouthRig, pose: Readonly<Pose>): Record<string, number> {
  const up = Math.max(0, pose.brows);
  const down = Math.max(0, -pose.brows);
  const targets: Record<string, number> = {
    eyeblinkleft: pose.blink,
    eyeblinkright: pose.blink,
    eyesclosed: pose.blink,
    fcleyeclose: pose.blink,
    blink: pose.blink,
    browinnerup: up * 0.8,
    browouterupleft: up * 0.6,
    browouterupright: up * 0.6,
    browdownleft: down * 0.7,
    browdownright: down * 0.7,
    eyewideleft: pose.wide * 0.5,
    eyewideright: pose.wide * 0.5,
    fclbrwsurprised: up * 0.7,
    mouthsmile: pose.smile * 0.6,
  };
  // The ARKit mouth already carries the smile (mixed with lip spreading).
  if (rig !== "arkit") targets.mouthsmileleft = targets.mouthsmileright = pose.smile * 0.5;
  return targets;
}

/**
 * Morph weights (key -> [0, 1]) for the mouth shape and the pose: every key any family names;
 * the loader applies those its model has. A closed mouth gives 0 to every mouth target.
 */
export function morphWeights(rig: MouthRig, mouth: Readonly<MouthShape>, pose: Readonly<Pose>): Record<string, number> {
  const weights = { ...faceTargets(rig, pose), ...mouthTargets(rig, mouth, pose.smile) };
  for (const key of Object.keys(weights)) weights[key] = min1(weights[key]!);
  return weights;
}

/** The jaw bone's opening for the mouth shape, in radians (about 14° at the widest). */
export function jawAngle(mouth: Readonly<MouthShape>): number {
  return mouth.open * 0.25;
}
