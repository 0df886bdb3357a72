import { describe, expect, it } from "vitest";
import type { Pose } from "./motion";
import { isEyeBone, isHeadBone, isJawBone, jawAngle, morphKey, morphWeights, mouthRig } from "./rig";
import { CLOSED, type MouthShape } from "./visemes";

const pose: Pose = { pitch: 0, yaw: 0, roll: 0, breath: 0, blink: 0, gazeUp: 0, gazeSide: 0, brows: 0, smile: 0, wide: 0 };
const keys = (...names: string[]) => new Set(names.map(morphKey));
const OPEN: MouthShape = { open: 0.9, round: 0, wide: 0, viseme: "open" };
const ROUND: MouthShape = { open: 0.3, round: 0.9, wide: 0, viseme: "round" };
const WIDE: MouthShape = { open: 0.2, round: 0, wide: 0.9, viseme: "wide" };

describe("the names a model uses", () => {
  it("compares morph target names without case, separators or an exporter's prefix", () => {
    expect(morphKey("jawOpen")).toBe("jawopen");
    expect(morphKey("blendShape1.jawOpen")).toBe("jawopen");
    expect(morphKey("viseme_aa")).toBe("visemeaa");
    expect(morphKey("Fcl_MTH_A")).toBe("fclmtha");
  });

  it("finds the jaw, head and eye bones of common rigs, not their end bones", () => {
    for (const name of ["Jaw", "jaw_bone", "CC_Base_JawRoot", "DEF-jaw", "mixamorig:Jaw"]) expect(isJawBone(name)).toBe(true);
    for (const name of ["Jaw_end", "HeadTop_End", "Head"]) expect(isJawBone(name)).toBe(false);
    for (const name of ["Head", "mixamorig:Head", "J_Bip_C_Head"]) expect(isHeadBone(name)).toBe(true);
    for (const name of ["HeadTop_End", "Forehead_lid"]) expect(isHeadBone(name)).toBe(false);
    for (const name of ["LeftEye", "eye_R", "J_Adj_L_FaceEye"]) expect(isEyeBone(name)).toBe(true);
    for (const name of ["eyelid_L", "EyeBrow.R"]) expect(isEyeBone(name)).toBe(false);
  });

  it("drives the mouth by the richest family the model has, else its jaw bone", () => {
    expect(mouthRig(keys("viseme_aa", "jawOpen"), true)).toBe("oculus-visemes");
    expect(mouthRig(keys("jawOpen", "eyeBlinkLeft"), true)).toBe("arkit");
    expect(mouthRig(keys("Fcl_MTH_A"), false)).toBe("vroid");
    expect(mouthRig(keys("mouthOpen"), false)).toBe("mouth-open");
    expect(mouthRig(keys("eyeBlinkLeft"), true)).toBe("jaw-bone");
    expect(mouthRig(keys("eyeBlinkLeft"), false)).toBe("none");
  });
});

describe("morphWeights", () => {
  it("shapes the Oculus visemes: aa for open, O/U for round, E/I for wide", () => {
    const top = (m: MouthShape) => {
      const w = morphWeights("oculus-visemes", m, pose);
      return ["visemeaa", "visemeo", "visemeu", "visemee", "visemei"].sort((a, b) => w[b]! - w[a]!)[0];
    };
    expect(top(OPEN)).toBe("visemeaa");
    expect(["visemeo", "visemeu"]).toContain(top(ROUND));
    expect(["visemee", "visemei"]).toContain(top(WIDE));
  });

  it("opens the ARKit jaw with the voice and funnels the lips for round vowels", () => {
    expect(morphWeights("arkit", OPEN, pose).jawopen).toBeGreaterThan(0.5);
    expect(morphWeights("arkit", ROUND, pose).mouthpucker).toBeGreaterThan(0.5);
    expect(morphWeights("arkit", WIDE, pose).mouthstretchleft).toBeGreaterThan(0.3);
  });

  it("gives every mouth target 0 when the mouth is shut", () => {
    for (const rig of ["oculus-visemes", "arkit", "vroid", "mouth-open"] as const) {
      const w = morphWeights(rig, CLOSED, pose);
      for (const key of ["visemeaa", "visemeo", "visemeu", "visemee", "visemei", "jawopen", "mouthfunnel", "mouthpucker", "fclmtha", "mouthopen"]) {
        expect(w[key] ?? 0).toBe(0);
      }
    }
  });

  it("blinks and raises the brows through every family's names, within [0, 1]", () => {
    const w = morphWeights("arkit", CLOSED, { ...pose, blink: 1, brows: 1, wide: 1 });
    expect(w.eyeblinkleft).toBe(1);
    expect(w.eyesclosed).toBe(1);
    expect(w.fcleyeclose).toBe(1);
    expect(w.browinnerup).toBeGreaterThan(0.5);
    expect(Object.values(w).every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it("turns a jaw bone by up to about 14 degrees", () => {
    expect(jawAngle(CLOSED)).toBe(0);
    expect(jawAngle({ ...OPEN, open: 1 })).toBeCloseTo(0.25);
  });
});
