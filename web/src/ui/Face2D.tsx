// The assistant's face where there is no WebGL: drawn on a 2D canvas, it breathes and blinks when
// idle, and its mouth opens and spreads with the lip sync of what the player is playing, shutting at
// once on `stop`.

import { useRef } from "react";
import type { LipSync } from "../avatar/lipSync";
import type { Activity } from "../session/activity";
import { useAnimationFrame } from "./useAnimationFrame";

interface Props {
  lipSync: LipSync;
  activity: Activity;
}

const SIZE = 320;
const reducedMotion = matchMedia("(prefers-reduced-motion: reduce)");

type Colours = ReturnType<typeof colours>;

function colours(element: HTMLElement) {
  const style = getComputedStyle(element);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    face: read("--avatar-face", "#5b6cff"),
    faceShade: read("--avatar-face-shade", "#3d4ad6"),
    feature: read("--avatar-feature", "#0f1535"),
    mouth: read("--avatar-mouth", "#2a0f2f"),
    tongue: read("--avatar-tongue", "#ff7a9a"),
    glow: read("--avatar-glow", "rgba(91,108,255,0.35)"),
  };
}

export function Face2D({ lipSync, activity }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const state = useRef({ open: 0, wide: 0, blinkAt: 0, shown: "", colours: null as Colours | null, coloursAt: 0 });

  useAnimationFrame((now) => {
    const element = canvas.current;
    const ctx = element?.getContext("2d");
    if (!element || !ctx) return;
    const s = state.current;
    const mouth = lipSync.read(now);
    s.open = mouth.open;
    s.wide = mouth.wide - mouth.round;
    const shown = s.open.toFixed(2);
    if (shown !== s.shown) {
      element.dataset.mouth = shown;
      s.shown = shown;
    }
    // Theme colours come from CSS (light or dark); re-read them now and then, not every frame.
    if (!s.colours || now - s.coloursAt > 1000) {
      s.colours = colours(element);
      s.coloursAt = now;
    }
    draw(ctx, element, now, s, s.colours, activity, reducedMotion.matches);
  });

  return (
    <canvas
      ref={canvas}
      className="avatar"
      width={SIZE * 2}
      height={SIZE * 2}
      aria-hidden="true"
      data-avatar="2d"
      data-mouth="0.00"
    />
  );
}

function draw(
  ctx: CanvasRenderingContext2D,
  element: HTMLCanvasElement,
  now: number,
  s: { open: number; wide: number; blinkAt: number },
  c: Colours,
  activity: Activity,
  still: boolean,
): void {
  const w = element.width;
  const scale = w / SIZE;
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.clearRect(0, 0, SIZE, SIZE);

  const t = now / 1000;
  const bob = still ? 0 : Math.sin(t * 1.6) * 3; // breathing
  const tilt = still ? 0 : Math.sin(t * 0.7) * 0.03;
  const cx = SIZE / 2;
  const cy = SIZE / 2 + bob;

  // A soft halo that swells while the assistant speaks and pulses while it listens.
  const speaking = activity === "speaking" || activity === "greeting";
  const halo = speaking ? 1 + s.open * 0.25 : activity === "listening" && !still ? 1 + Math.sin(t * 3) * 0.03 : 1;
  ctx.beginPath();
  ctx.arc(cx, cy, 128 * halo, 0, Math.PI * 2);
  ctx.fillStyle = c.glow;
  ctx.fill();

  ctx.save();
  ctx.translate(cx, cy);
  ctx.rotate(tilt);

  const face = ctx.createRadialGradient(-30, -40, 20, 0, 0, 120);
  face.addColorStop(0, c.face);
  face.addColorStop(1, c.faceShade);
  ctx.beginPath();
  ctx.ellipse(0, 0, 104, 112, 0, 0, Math.PI * 2);
  ctx.fillStyle = face;
  ctx.fill();

  // Blink every few seconds, for about 120 ms.
  if (now > s.blinkAt + 120) {
    if (now > s.blinkAt + 2500 && Math.random() < 0.01) s.blinkAt = now;
  }
  const blinking = now - s.blinkAt < 120;
  const look = still ? 0 : Math.sin(t * 0.5) * 3;
  ctx.fillStyle = c.feature;
  for (const x of [-38, 38]) {
    ctx.beginPath();
    ctx.ellipse(x + look, -22, 11, blinking ? 1.5 : 14, 0, 0, Math.PI * 2);
    ctx.fill();
  }

  // The jaw: the mouth's height follows the opening, its width the spreading (or rounding).
  const mouthHeight = 4 + s.open * 38;
  const mouthWidth = 44 + s.open * 10 + s.wide * 14;
  ctx.beginPath();
  ctx.ellipse(0, 46 + s.open * 6, mouthWidth / 2, mouthHeight / 2, 0, 0, Math.PI * 2);
  ctx.fillStyle = c.mouth;
  ctx.fill();
  if (s.open > 0.25) {
    ctx.beginPath();
    ctx.ellipse(0, 46 + s.open * 6 + mouthHeight * 0.25, mouthWidth * 0.3, mouthHeight * 0.2, 0, 0, Math.PI * 2);
    ctx.fillStyle = c.tongue;
    ctx.fill();
  }
  ctx.restore();
}
