// The built-in head, made in code (no asset to download): a stylised face on a bust, with eyes
// that blink and look, eyebrows, and a mouth whose jaw drops and whose lips round and spread.
//
// Head space: the head's centre at the origin, +y up, +z towards the person (the camera), units
// about a head's half-height. The jaw is a rotation of the lower face about an axis behind the
// mouth, done in the head's vertex shader so the skin stretches with it; the lips and the mouth's
// opening are rebuilt each frame from the mouth shape and follow the same jaw rotation.

import {
  BufferAttribute,
  BufferGeometry,
  Box3,
  CapsuleGeometry,
  Color,
  CylinderGeometry,
  DoubleSide,
  Group,
  Mesh,
  MeshBasicMaterial,
  MeshStandardMaterial,
  SphereGeometry,
  Vector3,
} from "three";
import type { Head, HeadFrame, Palette } from "./head";

/** Ellipsoid radii of the head; the lower face narrows towards the chin. */
const RX = 0.94;
const RY = 1.04;
const RZ = 0.96;
const MOUTH_Y = -0.42;
/** The jaw's hinge: behind the mouth, about where the ears are. */
const JAW_PIVOT = new Vector3(0, 0.02, -0.12);
/** Jaw rotation at the widest opening, radians (~13°). */
const JAW_MAX = 0.23;
/** Points round the mouth's opening. */
const RING = 40;
const EYE_X = 0.34;
const WHITE = new Color("#ffffff");
const EYE_Y = 0.14;

/** Half-width of the head at height y (narrower below the cheekbones). */
function halfWidth(y: number): number {
  return y >= 0 ? RX : RX * (1 - 0.16 * Math.pow(Math.min(1, -y / RY), 1.6));
}

/** Depth of the face's surface at (x, y): where the features sit. */
function surfaceZ(x: number, y: number): number {
  const hx = x / halfWidth(y);
  const hy = y / RY;
  return RZ * Math.sqrt(Math.max(0, 1 - hx * hx - hy * hy));
}

const smoothstep = (e0: number, e1: number, x: number) => {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
};

/** How much a point of the face moves with the jaw: the lower face, in front, not the cheeks' sides. */
function jawWeight(x: number, y: number, z: number): number {
  return (1 - smoothstep(MOUTH_Y - 0.035, MOUTH_Y + 0.035, y)) * (1 - smoothstep(0.3, 0.75, Math.abs(x))) * smoothstep(-0.25, 0.35, z);
}

/** Rotates `p` in place about the jaw's hinge (x axis) by `angle`: + opens (the chin drops and goes back). */
function rotateJaw(p: Vector3, angle: number): Vector3 {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const y = p.y - JAW_PIVOT.y;
  const z = p.z - JAW_PIVOT.z;
  p.y = JAW_PIVOT.y + c * y - s * z;
  p.z = JAW_PIVOT.z + s * y + c * z;
  return p;
}

// The same weight and rotation on the GPU, for the head's skin.
const JAW_GLSL = /* glsl */ `
uniform float jawAngle;
float jawWeight(vec3 p) {
  return (1.0 - smoothstep(${(MOUTH_Y - 0.035).toFixed(4)}, ${(MOUTH_Y + 0.035).toFixed(4)}, p.y))
    * (1.0 - smoothstep(0.3, 0.75, abs(p.x))) * smoothstep(-0.25, 0.35, p.z);
}
vec3 jawTurn(vec3 v, float a) {
  float c = cos(a); float s = sin(a);
  return vec3(v.x, c * v.y - s * v.z, s * v.y + c * v.z);
}
`;

function headGeometry(): SphereGeometry {
  const geometry = new SphereGeometry(1, 72, 56);
  const position = geometry.getAttribute("position") as BufferAttribute;
  for (let i = 0; i < position.count; i++) {
    const y = position.getY(i) * RY;
    position.setXYZ(i, position.getX(i) * halfWidth(y), y, position.getZ(i) * RZ);
  }
  geometry.computeVertexNormals();
  return geometry;
}

export class BuiltinHead implements Head {
  readonly object = new Group();
  readonly source = "built-in";
  readonly rig = "built-in";
  readonly clip = null;
  readonly focus = { target: new Vector3(0, -0.2, 0), distance: 6.4 };

  private readonly neck = new Group(); // turns the head about the top of the neck
  private readonly headGroup = new Group();
  private readonly body = new Group();
  private readonly jaw = { value: 0 };
  private readonly skin = new MeshStandardMaterial({ roughness: 0.55, metalness: 0 });
  private readonly shade = new MeshStandardMaterial({ roughness: 0.5, metalness: 0 });
  private readonly lipsMaterial = new MeshStandardMaterial({ roughness: 0.4, metalness: 0, side: DoubleSide });
  private readonly featureMaterial = new MeshStandardMaterial({ roughness: 0.35, metalness: 0 });
  private readonly shirt = new MeshStandardMaterial({ roughness: 0.7, metalness: 0 });
  private readonly eyes: Group[] = [];
  private readonly brows: Mesh[] = [];
  private readonly lips = new BufferGeometry();
  private readonly cavity = new BufferGeometry();
  private readonly cavityColors: Float32Array;
  private readonly owned: { dispose(): void }[] = [];

  constructor() {
    this.skin.onBeforeCompile = (shader) => {
      shader.uniforms.jawAngle = this.jaw;
      shader.vertexShader = shader.vertexShader
        .replace("#include <common>", `#include <common>\n${JAW_GLSL}`)
        .replace(
          "#include <beginnormal_vertex>",
          "#include <beginnormal_vertex>\nobjectNormal = jawTurn(objectNormal, jawAngle * jawWeight(position));",
        )
        .replace(
          "#include <begin_vertex>",
          `#include <begin_vertex>
{
  vec3 pivot = vec3(${JAW_PIVOT.x.toFixed(4)}, ${JAW_PIVOT.y.toFixed(4)}, ${JAW_PIVOT.z.toFixed(4)});
  transformed = pivot + jawTurn(transformed - pivot, jawAngle * jawWeight(position));
}`,
        );
    };

    this.neck.position.set(0, -0.95, 0);
    this.headGroup.position.set(0, 0.95, 0); // back to the head's centre, inside the neck's pivot
    this.neck.add(this.headGroup);
    this.object.add(this.body, this.neck);

    this.headGroup.add(this.mesh(headGeometry(), this.skin));
    this.buildEyes();
    this.buildBrows();
    this.buildEars();

    this.cavityColors = new Float32Array((2 * RING + 1) * 3);
    this.buildMouth();
    this.buildBody();
    this.update({
      now: 0,
      dt: 0,
      activity: "idle",
      mouth: { open: 0, round: 0, wide: 0, viseme: "closed" },
      pose: { pitch: 0, yaw: 0, roll: 0, breath: 0, blink: 0, gazeUp: 0, gazeSide: 0, brows: 0, smile: 0.15, wide: 0 },
      reducedMotion: false,
    });
  }

  mouthRegion(): Box3 {
    const z = surfaceZ(0, MOUTH_Y);
    // Lips at their widest, down to the dropped chin; inside the face's outline.
    return new Box3(new Vector3(-0.3, MOUTH_Y - 0.3, z - 0.05), new Vector3(0.3, MOUTH_Y + 0.12, z + 0.05));
  }

  setPalette(palette: Palette): void {
    this.skin.color.copy(palette.face).lerp(WHITE, 0.12);
    this.shade.color.copy(palette.faceShade);
    this.lipsMaterial.color.copy(palette.faceShade).lerp(palette.tongue, 0.35);
    this.featureMaterial.color.copy(palette.feature);
    this.shirt.color.copy(palette.body);
    this.paintCavity(palette);
  }

  update(f: HeadFrame): void {
    const { pose, mouth } = f;
    this.neck.rotation.set(pose.pitch, pose.yaw, pose.roll, "YXZ");
    this.body.scale.set(1 + pose.breath * 0.006, 1 + pose.breath * 0.012, 1 + pose.breath * 0.01);
    this.object.position.y = pose.breath * 0.012;

    // Eyes: look at the person (converging a little on the camera), blink, widen in surprise.
    const open = Math.max(0.06, 1 - pose.blink) * (1 + 0.12 * pose.wide);
    for (const eye of this.eyes) {
      const side = Math.sign(eye.position.x);
      eye.rotation.set(-pose.gazeUp, pose.gazeSide - side * 0.06, 0, "YXZ");
      eye.scale.set(1 + 0.05 * pose.wide, open, 1);
    }
    for (const brow of this.brows) {
      const side = Math.sign(brow.position.x);
      brow.position.y = EYE_Y + 0.27 + 0.07 * pose.brows + 0.03 * pose.wide;
      // Knitting lowers the inner ends; raising arches them a little.
      brow.rotation.z = Math.PI / 2 + side * (Math.max(0, -pose.brows) * 0.32 - Math.max(0, pose.brows) * 0.06);
    }

    this.jaw.value = mouth.open * JAW_MAX;
    this.shapeMouth(mouth.open, mouth.round, mouth.wide, pose.smile);
  }

  dispose(): void {
    for (const thing of this.owned) thing.dispose();
  }

  // --- building ----------------------------------------------------------------------------------

  private mesh(geometry: BufferGeometry, material: MeshStandardMaterial | MeshBasicMaterial): Mesh {
    this.owned.push(geometry);
    if (!this.owned.includes(material)) this.owned.push(material);
    return new Mesh(geometry, material);
  }

  private buildEyes(): void {
    const white = new MeshStandardMaterial({ color: new Color("#f5f7ff"), roughness: 0.25, metalness: 0 });
    const shine = new MeshBasicMaterial({ color: new Color("#ffffff") });
    for (const side of [-1, 1]) {
      const eye = new Group();
      const x = side * EYE_X;
      eye.position.set(x, EYE_Y, surfaceZ(x, EYE_Y) - 0.075);
      eye.add(this.mesh(new SphereGeometry(0.15, 32, 24), white));
      const iris = this.mesh(new SphereGeometry(0.088, 32, 16), this.featureMaterial);
      iris.scale.z = 0.45;
      iris.position.z = 0.122;
      const glint = this.mesh(new SphereGeometry(0.022, 12, 8), shine);
      glint.position.set(0.028, 0.034, 0.16);
      eye.add(iris, glint);
      this.eyes.push(eye);
      this.headGroup.add(eye);
    }
  }

  private buildBrows(): void {
    for (const side of [-1, 1]) {
      const brow = this.mesh(new CapsuleGeometry(0.03, 0.2, 4, 12), this.featureMaterial);
      const x = side * EYE_X;
      brow.position.set(x, EYE_Y + 0.27, surfaceZ(x, EYE_Y + 0.27) + 0.005);
      brow.rotation.set(-0.25, 0, Math.PI / 2);
      brow.scale.set(1, 1, 0.6);
      this.brows.push(brow);
      this.headGroup.add(brow);
    }
  }

  private buildEars(): void {
    for (const side of [-1, 1]) {
      const ear = this.mesh(new SphereGeometry(0.16, 24, 16), this.shade);
      ear.position.set(side * (RX - 0.02), 0.02, -0.05);
      ear.scale.set(0.45, 1, 0.8);
      this.headGroup.add(ear);
    }
  }

  private buildBody(): void {
    const neck = this.mesh(new CylinderGeometry(0.3, 0.36, 0.7, 32, 1, true), this.shade);
    neck.position.set(0, -1.1, -0.08);
    const shoulders = this.mesh(new SphereGeometry(1, 48, 24, 0, Math.PI * 2, 0, Math.PI / 2), this.shirt);
    shoulders.scale.set(1.55, 0.62, 0.78);
    shoulders.position.set(0, -1.95, -0.1);
    const collar = this.mesh(new CylinderGeometry(0.4, 0.46, 0.12, 32), this.shirt);
    collar.position.set(0, -1.42, -0.08);
    this.body.add(neck, shoulders, collar);
  }

  /** The opening (a fan: centre, a ring at 80 %, the edge) and the lips (three rows round it). */
  private buildMouth(): void {
    const cavityIndex: number[] = [];
    for (let i = 0; i < RING; i++) {
      const j = (i + 1) % RING;
      const inner = (k: number) => 1 + k;
      const edge = (k: number) => 1 + RING + k;
      cavityIndex.push(0, inner(i), inner(j));
      cavityIndex.push(inner(i), edge(i), edge(j), inner(i), edge(j), inner(j));
    }
    this.cavity.setIndex(cavityIndex);
    this.cavity.setAttribute("position", new BufferAttribute(new Float32Array((2 * RING + 1) * 3), 3));
    this.cavity.setAttribute("color", new BufferAttribute(this.cavityColors, 3));
    const cavityMaterial = new MeshBasicMaterial({ vertexColors: true, side: DoubleSide });
    cavityMaterial.polygonOffset = true;
    cavityMaterial.polygonOffsetFactor = -2;
    cavityMaterial.polygonOffsetUnits = -2;
    this.owned.push(this.cavity, cavityMaterial);
    this.headGroup.add(new Mesh(this.cavity, cavityMaterial));

    const lipIndex: number[] = [];
    for (let row = 0; row < 2; row++) {
      for (let i = 0; i < RING; i++) {
        const j = (i + 1) % RING;
        const a = row * RING + i;
        const b = row * RING + j;
        const c = (row + 1) * RING + i;
        const d = (row + 1) * RING + j;
        lipIndex.push(a, c, b, b, c, d);
      }
    }
    this.lips.setIndex(lipIndex);
    this.lips.setAttribute("position", new BufferAttribute(new Float32Array(3 * RING * 3), 3));
    this.lipsMaterial.polygonOffset = true;
    this.lipsMaterial.polygonOffsetFactor = -3;
    this.lipsMaterial.polygonOffsetUnits = -3;
    this.owned.push(this.lips, this.lipsMaterial);
    this.headGroup.add(new Mesh(this.lips, this.lipsMaterial));
  }

  /** Dark inside, upper teeth along the top edge, the tongue low in the middle. */
  private paintCavity(palette: Palette): void {
    const teeth = new Color("#f2f0ea");
    const set = (k: number, color: Color) => color.toArray(this.cavityColors, k * 3);
    set(0, palette.mouth);
    for (let i = 0; i < RING; i++) {
      const s = Math.sin((2 * Math.PI * i) / RING);
      const inner = s < -0.25 ? palette.tongue.clone().lerp(palette.mouth, 0.35) : palette.mouth;
      set(1 + i, inner);
      set(1 + RING + i, s > 0.3 ? teeth : palette.mouth);
    }
    (this.cavity.getAttribute("color") as BufferAttribute).needsUpdate = true;
  }

  /**
   * Rebuilds the opening and the lips: `open` drops the jaw and parts the lips, `round` narrows
   * them into an O and pushes them forward, `wide` spreads them, `smile` lifts the corners.
   */
  private shapeMouth(open: number, round: number, wide: number, smile: number): void {
    const halfW = 0.22 * (1 + 0.3 * wide - 0.42 * round + 0.08 * smile);
    const up = 0.004 + 0.05 * open + 0.05 * round * open;
    const down = 0.005 + 0.07 * open + 0.05 * round;
    const lift = 0.045 * smile - 0.015 * round;
    const thickness = 0.05 + 0.025 * round;
    const pout = 0.02 + 0.06 * round;
    const angle = open * JAW_MAX;

    const cavity = this.cavity.getAttribute("position") as BufferAttribute;
    const lips = this.lips.getAttribute("position") as BufferAttribute;
    const p = new Vector3();
    const centre = new Vector3();
    const place = (x: number, y: number, dz: number): Vector3 => {
      p.set(x, y, surfaceZ(x, y) + dz);
      return rotateJaw(p, angle * jawWeight(x, y, p.z));
    };
    for (let i = 0; i < RING; i++) {
      const t = (2 * Math.PI * i) / RING;
      const c = Math.cos(t);
      const s = Math.sin(t);
      const x = halfW * c;
      const y = MOUTH_Y + (s >= 0 ? up : down) * s + lift * c * c;
      // Outward in the face's plane: the ellipse's normal.
      const nx = c / halfW;
      const ny = s / (s >= 0 ? up + 0.02 : down + 0.02);
      const n = Math.hypot(nx, ny);
      const ox = (nx / n) * thickness;
      const oy = (ny / n) * thickness * 0.8;

      place(x, y, 0.004).toArray(cavity.array, (1 + RING + i) * 3);
      place(x * 0.8, MOUTH_Y + (y - MOUTH_Y) * 0.8, -0.01).toArray(cavity.array, (1 + i) * 3);
      centre.add(p.set(x, y, 0));
      place(x, y, 0.006).toArray(lips.array, i * 3);
      place(x + ox * 0.5, y + oy * 0.5, 0.012 + pout).toArray(lips.array, (RING + i) * 3);
      place(x + ox, y + oy, 0.002).toArray(lips.array, (2 * RING + i) * 3);
    }
    centre.divideScalar(RING);
    place(centre.x, centre.y, -0.03).toArray(cavity.array, 0);
    cavity.needsUpdate = true;
    lips.needsUpdate = true;
    this.lips.computeVertexNormals();
    this.cavity.computeBoundingSphere();
    this.lips.computeBoundingSphere();
  }
}
