// What the avatar is showing, for the debug panel (written by the avatar, read at animation rate).

export interface AvatarStatus {
  /** "3d" (three.js), "2d" (the canvas face: no WebGL), or "loading" (the 3D code or a model). */
  renderer: "loading" | "3d" | "2d";
  /** "built-in" or the model's URL. */
  head: string;
  /** What moves the mouth: "built-in", a morph-target family, "jaw-bone" or "none". */
  rig: string;
  /** The model's idle animation clip, if it plays one. */
  clip: string | null;
  /** Frames drawn per second and the page's time per frame (ms: scene update and WebGL calls). */
  fps: number;
  frameMs: number;
  /** WebGL draws on the CPU (no multisampling, 30 fps at most). */
  software: boolean;
  /** Resolution scale (1 = the screen's), lowered while frames come too slowly. */
  scale: number;
  /** Why the operator's model is not shown (the built-in head is), or why there is no 3D. */
  problem: string | null;
}

export const newAvatarStatus = (): AvatarStatus => ({
  renderer: "loading",
  head: "built-in",
  rig: "built-in",
  clip: null,
  fps: 0,
  frameMs: 0,
  software: false,
  scale: 1,
  problem: null,
});
