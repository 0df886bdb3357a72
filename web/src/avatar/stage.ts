// The 3D avatar (three.js, in its own chunk): renderer, soft lights, a halo in the activity's
// colour, the built-in head or an operator's model, and the animation loop, which pauses while the
// tab is hidden or the avatar is scrolled out of view.

import {
  CanvasTexture,
  Color,
  HemisphereLight,
  DirectionalLight,
  NeutralToneMapping,
  PerspectiveCamera,
  Scene,
  SRGBColorSpace,
  Sprite,
  SpriteMaterial,
  Vector3,
  WebGLRenderer,
} from "three";
import type { Activity } from "../session/activity";
import type { LogKind } from "../session/eventLog";
import { BuiltinHead } from "./builtinHead";
import { CAMERA_FOV_DEG, type Head, type Palette } from "./head";
import { Motion } from "./motion";
import type { AvatarStatus } from "./status";
import type { MouthShape } from "./visemes";

export interface AvatarOptions {
  /** The operator's model (glTF/GLB URL), or null for the built-in head. */
  modelUrl: string | null;
  /** WebGL draws on the CPU (webgl.ts): no multisampling, at most 30 frames a second. */
  software: boolean;
  /** What is happening now: read once per frame. */
  activity: () => Activity;
  mouth: (now: number) => Readonly<MouthShape>;
  status: AvatarStatus;
  note: (kind: LogKind, text: string) => void;
}

export interface AvatarHandle {
  dispose(): void;
}

/** Starts the avatar on `canvas`; throws when WebGL cannot start (the page shows the 2D face). */
export function startAvatar(canvas: HTMLCanvasElement, options: AvatarOptions): AvatarHandle {
  return new Stage(canvas, options);
}

/** Dispatched on the canvas after each frame is drawn. */
export const FRAME_EVENT = "avatar-frame";
/** Frame rate of a software renderer: enough for lips, and CPU left for everything else. */
const SOFTWARE_FPS = 30;
/** The lowest resolution scale the avatar falls to on a slow machine. */
const MIN_SCALE = 0.5;

class Stage implements AvatarHandle {
  private readonly renderer: WebGLRenderer;
  private readonly scene = new Scene();
  private readonly camera = new PerspectiveCamera(CAMERA_FOV_DEG, 1, 0.1, 100);
  private readonly motion = new Motion();
  private readonly halo: Sprite;
  private readonly haloColor = new Color();
  private head: Head | null = null;
  private frame = 0;
  private running = false;
  private visible = true;
  private disposed = false;
  private last = -1;
  private palette: Palette & { activity: Record<Activity, Color> };
  private paletteAt = -Infinity;
  private readonly reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");
  private readonly observer: IntersectionObserver;
  private readonly shown = { mouth: "", viseme: "", box: "" };
  private stats = { frames: 0, busy: 0, since: 0 };
  private readonly basePixelRatio: number;
  /** Resolution scale: lowered step by step while frames come too slowly. */
  private scale: number;
  private readonly minFrameMs: number;
  private drawnAt = -Infinity;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly options: AvatarOptions,
  ) {
    // Throws when there is no WebGL 2: the caller falls back to the 2D face.
    // A software renderer pays for every pixel: multisampling would halve its frame rate, and it
    // draws at half resolution (a quarter of the pixels). A GPU does both for next to nothing.
    this.renderer = new WebGLRenderer({ canvas, antialias: !options.software, alpha: true, powerPreference: "low-power" });
    this.basePixelRatio = Math.min(window.devicePixelRatio || 1, 2);
    this.scale = options.software ? MIN_SCALE : 1;
    options.status.scale = this.scale;
    this.renderer.setPixelRatio(this.basePixelRatio * this.scale);
    this.minFrameMs = options.software ? 1000 / SOFTWARE_FPS - 4 : 0;
    options.status.software = options.software;
    this.renderer.outputColorSpace = SRGBColorSpace;
    this.renderer.toneMapping = NeutralToneMapping;
    this.renderer.setClearColor(0x000000, 0);

    // Soft light: a sky/ground fill, a warm key from above right, a cool rim from behind.
    this.scene.add(new HemisphereLight(0xf4f6ff, 0x5a6078, 1.6));
    const key = new DirectionalLight(0xfff2e6, 1.9);
    key.position.set(2.5, 3, 4);
    const rim = new DirectionalLight(0xbfd0ff, 1.2);
    rim.position.set(-3, 2.5, -3.5);
    this.scene.add(key, rim);

    this.halo = new Sprite(new SpriteMaterial({ map: glowTexture(), transparent: true, depthWrite: false }));
    this.scene.add(this.halo);
    this.palette = readPalette(canvas);

    this.observer = new IntersectionObserver((entries) => {
      this.visible = entries.some((e) => e.isIntersecting);
      this.schedule();
    });
    this.observer.observe(canvas);
    document.addEventListener("visibilitychange", this.schedule);
    canvas.addEventListener("webglcontextlost", this.onContextLost);

    canvas.dataset.avatar = "3d";
    options.status.renderer = "loading";
    if (options.modelUrl) void this.loadModel(options.modelUrl);
    else this.setHead(new BuiltinHead());
    this.schedule();
  }

  dispose(): void {
    this.disposed = true;
    cancelAnimationFrame(this.frame);
    this.observer.disconnect();
    document.removeEventListener("visibilitychange", this.schedule);
    this.canvas.removeEventListener("webglcontextlost", this.onContextLost);
    this.head?.dispose();
    this.halo.material.map?.dispose();
    this.halo.material.dispose();
    this.renderer.dispose();
  }

  private async loadModel(url: string): Promise<void> {
    try {
      const { loadModelHead } = await import("./modelHead");
      const head = await loadModelHead(url);
      if (this.disposed) return head.dispose();
      this.setHead(head);
      this.options.note("info", `avatar: ${url} (${head.rig}${head.clip ? `, idle clip "${head.clip}"` : ""})`);
    } catch (error) {
      if (this.disposed) return;
      const problem = `The avatar model ${url} could not be shown (${reason(error)}); the built-in head stands in.`;
      this.options.status.problem = problem;
      this.options.note("error", problem);
      this.setHead(new BuiltinHead());
    }
  }

  private setHead(head: Head): void {
    if (this.head) {
      this.scene.remove(this.head.object);
      this.head.dispose();
    }
    this.head = head;
    head.setPalette(this.palette);
    this.scene.add(head.object);
    const { target, distance } = head.focus;
    this.camera.position.set(target.x, target.y + distance * 0.03, target.z + distance);
    this.camera.near = distance / 50;
    this.camera.far = distance * 20;
    this.camera.lookAt(target);
    this.camera.updateProjectionMatrix();
    this.halo.position.set(target.x, target.y, target.z - distance * 0.12);
    this.halo.scale.setScalar(distance * 0.46);
    const status = this.options.status;
    Object.assign(status, { renderer: "3d", head: head.source, rig: head.rig, clip: head.clip });
    Object.assign(this.canvas.dataset, { head: head.source === "built-in" ? "built-in" : "model", rig: head.rig, clip: head.clip ?? "" });
    this.shown.box = "";
  }

  /** Runs the loop while the page is visible and the canvas on screen; stops it otherwise. */
  private readonly schedule = (): void => {
    const run = !this.disposed && this.visible && document.visibilityState === "visible";
    if (run === this.running) return;
    this.running = run;
    if (run) {
      this.last = -1;
      this.frame = requestAnimationFrame(this.tick);
    } else {
      cancelAnimationFrame(this.frame);
    }
  };

  private readonly onContextLost = (event: Event): void => {
    event.preventDefault(); // three.js restores the context when the browser gives it back
    this.options.note("error", "avatar: the WebGL context was lost");
  };

  private readonly tick = (now: number): void => {
    if (!this.running) return;
    this.frame = requestAnimationFrame(this.tick);
    if (now - this.drawnAt < this.minFrameMs) return;
    this.drawnAt = now;
    const started = performance.now();
    const dt = this.last < 0 ? 0 : Math.min(0.1, (now - this.last) / 1000);
    this.last = now;
    if (now - this.paletteAt > 1000) {
      // Theme colours come from CSS (light or dark); read them now and then, not every frame.
      this.palette = readPalette(this.canvas);
      this.head?.setPalette(this.palette);
      this.paletteAt = now;
    }
    this.resize();
    const reducedMotion = this.reducedMotion.matches;
    const activity = this.options.activity();
    const mouth = this.options.mouth(now);
    const pose = this.motion.update(now / 1000, activity, mouth.open, reducedMotion);
    this.head?.update({ now: now / 1000, dt, activity, mouth, pose, reducedMotion });
    this.updateHalo(now / 1000, dt, activity, mouth.open, reducedMotion);
    this.renderer.render(this.scene, this.camera);
    this.publish(mouth);
    // For whoever reads the pixels back (the browser tests): the drawing buffer holds this frame
    // until the task ends, so a listener reads what was just drawn.
    this.canvas.dispatchEvent(new Event(FRAME_EVENT));
    this.measure(now, performance.now() - started);
  };

  private resize(): void {
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    if (!width || !height) return;
    const ratio = this.renderer.getPixelRatio();
    if (this.canvas.width !== Math.round(width * ratio) || this.canvas.height !== Math.round(height * ratio)) {
      this.renderer.setSize(width, height, false);
      this.camera.aspect = width / height;
      this.camera.updateProjectionMatrix();
      this.shown.box = "";
    }
  }

  /** A glow behind the head in the activity's colour: it breathes while listening, swells with speech. */
  private updateHalo(now: number, dt: number, activity: Activity, open: number, reducedMotion: boolean): void {
    const target = this.palette.activity[activity];
    const gap = Math.abs(target.r - this.haloColor.r) + Math.abs(target.g - this.haloColor.g) + Math.abs(target.b - this.haloColor.b);
    // Fades to the activity's colour in about half a second, then rests on it (no endless
    // shimmer of the last shade).
    if (gap < 0.003 || dt === 0) this.haloColor.copy(target);
    else this.haloColor.lerp(target, 1 - Math.exp(-dt / 0.15));
    this.halo.material.color.copy(this.haloColor);
    const pulse = reducedMotion ? 0 : activity === "listening" ? 0.03 * Math.sin(now * 3) : activity === "thinking" ? 0.04 * Math.sin(now * 5) : 0;
    const swell = activity === "speaking" || activity === "greeting" ? open * 0.08 : 0;
    this.halo.material.opacity = activity === "idle" ? 0.35 : 0.75;
    const base = this.head?.focus.distance ?? 6;
    this.halo.scale.setScalar(base * 0.46 * (1 + pulse + swell));
  }

  /** Data attributes that tests read (and that show in the inspector): the mouth and its region. */
  private publish(mouth: Readonly<MouthShape>): void {
    const data = this.canvas.dataset;
    const open = mouth.open.toFixed(2);
    if (open !== this.shown.mouth) data.mouth = this.shown.mouth = open;
    if (mouth.viseme !== this.shown.viseme) data.viseme = this.shown.viseme = mouth.viseme;
    if (!this.shown.box && this.head) {
      // The mouth's region at rest, as fractions of the canvas (left, top, width, height).
      const box = this.head.mouthRegion();
      let left = 1;
      let top = 1;
      let right = 0;
      let bottom = 0;
      for (const x of [box.min.x, box.max.x]) {
        for (const y of [box.min.y, box.max.y]) {
          for (const z of [box.min.z, box.max.z]) {
            const p = new Vector3(x, y, z).project(this.camera);
            left = Math.min(left, (p.x + 1) / 2);
            right = Math.max(right, (p.x + 1) / 2);
            top = Math.min(top, (1 - p.y) / 2);
            bottom = Math.max(bottom, (1 - p.y) / 2);
          }
        }
      }
      data.mouthBox = this.shown.box = [left, top, right - left, bottom - top].map((v) => v.toFixed(3)).join(",");
    }
  }

  private measure(now: number, busy: number): void {
    const s = this.stats;
    if (s.frames === 0) s.since = now;
    s.frames++;
    s.busy += busy;
    if (now - s.since >= 2000) {
      const fps = ((s.frames - 1) * 1000) / (now - s.since);
      this.options.status.fps = fps;
      this.options.status.frameMs = s.busy / s.frames;
      this.stats = { frames: 0, busy: 0, since: 0 };
      // Too slow for the machine: draw fewer pixels (the canvas is scaled up by the page).
      const wanted = this.options.software ? SOFTWARE_FPS : 60;
      if (fps < wanted * 0.75 && this.scale > MIN_SCALE && document.visibilityState === "visible") {
        this.scale = Math.max(MIN_SCALE, this.scale * 0.8);
        this.renderer.setPixelRatio(this.basePixelRatio * this.scale);
        this.options.status.scale = this.scale;
      }
    }
  }
}

function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

/** A soft round glow, white at the centre and clear at the edge; tinted by the sprite's colour. */
function glowTexture(): CanvasTexture {
  const size = 128;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext("2d")!;
  const gradient = ctx.createRadialGradient(size / 2, size / 2, 0, size / 2, size / 2, size / 2);
  gradient.addColorStop(0, "rgba(255,255,255,0.9)");
  gradient.addColorStop(0.55, "rgba(255,255,255,0.45)");
  gradient.addColorStop(1, "rgba(255,255,255,0)");
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, size, size);
  const texture = new CanvasTexture(canvas);
  texture.colorSpace = SRGBColorSpace;
  return texture;
}

const ACTIVITIES: Activity[] = ["idle", "connecting", "greeting", "listening", "thinking", "speaking", "interrupted"];

function readPalette(element: HTMLElement): Palette & { activity: Record<Activity, Color> } {
  const style = getComputedStyle(element);
  const read = (name: string, fallback: string) => {
    const value = style.getPropertyValue(name).trim();
    const color = new Color();
    try {
      color.setStyle(value || fallback);
    } catch {
      color.setStyle(fallback);
    }
    return color;
  };
  const activity = Object.fromEntries(ACTIVITIES.map((a) => [a, read(`--activity-${a}`, "#8088aa")])) as Record<Activity, Color>;
  return {
    face: read("--avatar-face", "#6f7dff"),
    faceShade: read("--avatar-face-shade", "#4151db"),
    feature: read("--avatar-feature", "#0f1535"),
    mouth: read("--avatar-mouth", "#2a0f2f"),
    tongue: read("--avatar-tongue", "#ff7a9a"),
    body: read("--avatar-body", "#2f3a8f"),
    activity,
  };
}
