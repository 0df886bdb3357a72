// What the stage asks of a head: the built-in one or an operator's model.

import type { Box3, Color, Object3D, Vector3 } from "three";
import type { Activity } from "../session/activity";
import type { Pose } from "./motion";
import type { MouthShape } from "./visemes";

/** The stage camera's vertical field of view, degrees: heads frame themselves for it (`focus`). */
export const CAMERA_FOV_DEG = 26;

export interface HeadFrame {
  /** Seconds (animation clock) and seconds since the last frame. */
  now: number;
  dt: number;
  activity: Activity;
  mouth: Readonly<MouthShape>;
  pose: Readonly<Pose>;
  reducedMotion: boolean;
}

/** The page's colours (from CSS, light or dark theme). */
export interface Palette {
  face: Color;
  faceShade: Color;
  feature: Color;
  mouth: Color;
  tongue: Color;
  body: Color;
}

export interface Head {
  readonly object: Object3D;
  /** "built-in" or the model's URL. */
  readonly source: string;
  /** What moves the mouth (see rig.ts), "built-in" for the built-in head. */
  readonly rig: string;
  /** The idle clip it plays, if any. */
  readonly clip: string | null;
  /** Where the camera looks (the middle of the face) and from how far, in world units. */
  readonly focus: { target: Vector3; distance: number };
  /** The mouth's region (world space) at rest: what tests and the debug panel look at. */
  mouthRegion(): Box3;
  setPalette(palette: Palette): void;
  update(frame: HeadFrame): void;
  dispose(): void;
}
