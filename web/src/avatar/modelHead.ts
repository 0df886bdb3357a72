// An operator's glTF/GLB model as the avatar: it plays the model's idle clip if it has one, and
// drives what the model has: morph targets by their common names (rig.ts), or else a jaw bone;
// blinks and expressions through the same names; gaze and head motion through eye and head bones.
// Loaded in its own chunk, only when /api/config names a model.

import {
  type AnimationClip,
  AnimationMixer,
  Box3,
  Euler,
  type Material,
  type Mesh,
  Object3D,
  Quaternion,
  Texture,
  Vector3,
} from "three";
import { type GLTF, GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { MeshoptDecoder } from "three/examples/jsm/libs/meshopt_decoder.module.js";
import { CAMERA_FOV_DEG, type Head, type HeadFrame } from "./head";
import { type MouthRig, isEyeBone, isHeadBone, isJawBone, jawAngle, morphKey, morphWeights, mouthRig } from "./rig";

/** Longest wait for a model before the built-in head takes its place. */
const LOAD_TIMEOUT_MS = 20_000;

interface MorphBinding {
  influences: number[];
  index: number;
}

/** Loads `url`; rejects (with a sentence) when it cannot be fetched or parsed, or has no mesh. */
export async function loadModelHead(url: string, timeoutMs = LOAD_TIMEOUT_MS): Promise<ModelHead> {
  const loader = new GLTFLoader().setMeshoptDecoder(MeshoptDecoder);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    const gltf = await Promise.race([loader.loadAsync(url), timeout]);
    return new ModelHead(url, gltf);
  } finally {
    clearTimeout(timer);
  }
}

export class ModelHead implements Head {
  readonly object = new Object3D();
  readonly rig: MouthRig;
  readonly clip: string | null;
  readonly focus: { target: Vector3; distance: number };

  private readonly model: Object3D;
  private readonly mixer: AnimationMixer | null = null;
  private readonly morphs = new Map<string, MorphBinding[]>();
  private readonly jaw: Object3D | null;
  private readonly head: Object3D | null;
  private readonly eyes: Object3D[];
  /** Rest rotations of the bones turned here, restored each frame before the clip and the turns. */
  private readonly rest = new Map<Object3D, Quaternion>();
  private readonly size: number;
  private readonly mouthAt: Vector3;

  constructor(
    readonly source: string,
    gltf: GLTF,
  ) {
    this.model = gltf.scene;
    this.object.add(this.model);
    let meshes = 0;
    const named = (test: (name: string) => boolean): Object3D[] => {
      const found: Object3D[] = [];
      this.model.traverse((node) => {
        if (node.name && test(node.name)) found.push(node);
      });
      return found;
    };
    this.model.traverse((node) => {
      const mesh = node as Mesh;
      if (!mesh.isMesh) return;
      meshes++;
      mesh.frustumCulled = false; // skinned and morphed: its bounds move
      const dictionary = mesh.morphTargetDictionary;
      const influences = mesh.morphTargetInfluences;
      if (!dictionary || !influences) return;
      for (const [name, index] of Object.entries(dictionary)) {
        const key = morphKey(name);
        const list = this.morphs.get(key) ?? [];
        list.push({ influences, index });
        this.morphs.set(key, list);
      }
    });
    if (meshes === 0) throw new Error("the model has no mesh");
    this.jaw = named(isJawBone)[0] ?? null;
    this.head = named(isHeadBone)[0] ?? null;
    this.eyes = named(isEyeBone).slice(0, 2);
    for (const bone of [this.jaw, this.head, ...this.eyes]) if (bone) this.rest.set(bone, bone.quaternion.clone());
    this.rig = mouthRig(new Set(this.morphs.keys()), this.jaw !== null);

    const clip = idleClip(gltf.animations);
    this.clip = clip?.name || (clip ? "(unnamed)" : null);
    if (clip) {
      this.mixer = new AnimationMixer(this.model);
      this.mixer.clipAction(clip).play();
    }

    this.object.updateMatrixWorld(true);
    const box = new Box3().setFromObject(this.model, true);
    const height = Math.max(1e-3, box.max.y - box.min.y);
    const headAt = this.head?.getWorldPosition(new Vector3());
    // A head bone sits at the base of the skull: frame from there to the top of the model, with
    // the shoulders when there is a body below it; else the whole model.
    this.size = headAt ? Math.max(box.max.y - headAt.y, 0.12 * height) : height;
    const target = headAt ? new Vector3(headAt.x, headAt.y + this.size * 0.4, headAt.z) : box.getCenter(new Vector3());
    const body = headAt !== undefined && headAt.y - box.min.y > this.size;
    this.focus = { target, distance: (this.size * (body ? 2.6 : 1.4)) / (2 * Math.tan((CAMERA_FOV_DEG / 2) * (Math.PI / 180))) };
    const jawAt = this.jaw?.getWorldPosition(new Vector3());
    this.mouthAt = jawAt
      ? new Vector3(target.x, (jawAt.y + target.y) / 2 - this.size * 0.15, box.max.z)
      : new Vector3(target.x, target.y - this.size * 0.3, box.max.z);
  }

  mouthRegion(): Box3 {
    const half = new Vector3(this.size * 0.3, this.size * 0.2, this.size * 0.1);
    return new Box3(this.mouthAt.clone().sub(half), this.mouthAt.clone().add(half));
  }

  setPalette(): void {
    // The model keeps its own materials.
  }

  update(f: HeadFrame): void {
    const { pose, mouth } = f;
    for (const [bone, rest] of this.rest) bone.quaternion.copy(rest);
    if (this.mixer) {
      this.mixer.timeScale = f.reducedMotion ? 0 : 1;
      this.mixer.update(f.dt);
    }
    this.object.position.y = pose.breath * 0.004 * this.size;
    if (this.head) turn(this.object, this.head, new Euler(pose.pitch, pose.yaw, pose.roll, "YXZ"));
    else this.object.rotation.set(pose.pitch * 0.3, pose.yaw * 0.3, pose.roll * 0.3, "YXZ");
    for (const eye of this.eyes) turn(this.object, eye, new Euler(-pose.gazeUp, pose.gazeSide, 0, "YXZ"));
    if (this.rig === "jaw-bone" && this.jaw) turn(this.object, this.jaw, new Euler(jawAngle(mouth), 0, 0));
    const weights = morphWeights(this.rig, mouth, pose);
    for (const [key, bindings] of this.morphs) {
      const weight = weights[key];
      if (weight === undefined) continue;
      for (const { influences, index } of bindings) influences[index] = weight;
    }
  }

  dispose(): void {
    this.mixer?.stopAllAction();
    this.model.traverse((node) => {
      const mesh = node as Mesh;
      if (!mesh.isMesh) return;
      mesh.geometry.dispose();
      for (const material of ([] as Material[]).concat(mesh.material)) {
        for (const value of Object.values(material)) if (value instanceof Texture) value.dispose();
        material.dispose();
      }
    });
  }
}

/** A clip named like "Idle" ("idle_loop", "Armature|Idle"), or the only clip there is. */
function idleClip(clips: AnimationClip[]): AnimationClip | null {
  return clips.find((c) => /idle/i.test(c.name)) ?? (clips.length === 1 ? clips[0]! : null);
}

const parentTurn = new Quaternion();
const rootTurn = new Quaternion();
const delta = new Quaternion();

/**
 * Turns `bone` by `rotation` given in the model's own axes (glTF: +y up, facing +z), whatever the
 * bone's local axes are: +x nods the head or drops the jaw, +y turns to the model's left.
 */
function turn(root: Object3D, bone: Object3D, rotation: Euler): void {
  const parent = bone.parent;
  if (!parent) return;
  root.getWorldQuaternion(rootTurn);
  parent.getWorldQuaternion(parentTurn);
  parentTurn.premultiply(rootTurn.invert()); // the parent's orientation in the model's axes
  delta.setFromEuler(rotation);
  // local' = P⁻¹ · Δ · P · local
  delta.premultiply(parentTurn.clone().invert()).multiply(parentTurn);
  bone.quaternion.premultiply(delta);
}
