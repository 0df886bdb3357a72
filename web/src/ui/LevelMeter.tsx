import { useRef } from "react";
import { meterLevel } from "../audio/levels";
import { useAnimationFrame } from "./useAnimationFrame";

interface Props {
  label: string;
  /** Reads the current RMS level. */
  read: () => number;
  muted?: boolean;
}

/** A horizontal level bar on a dB scale, updated at animation rate without re-rendering. */
export function LevelMeter({ label, read, muted = false }: Props) {
  const bar = useRef<HTMLDivElement>(null);
  const meter = useRef<HTMLDivElement>(null);
  const last = useRef(-1);
  useAnimationFrame(() => {
    const level = muted ? 0 : meterLevel(read());
    const rounded = Math.round(level * 100);
    if (rounded === last.current) return;
    last.current = rounded;
    if (bar.current) bar.current.style.transform = `scaleX(${level})`;
    meter.current?.setAttribute("aria-valuenow", String(rounded));
  });
  return (
    <div className={`level-meter${muted ? " muted" : ""}`}>
      <span className="level-label">{label}</span>
      <div ref={meter} className="level-track" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={0}>
        <div ref={bar} className="level-bar" />
      </div>
    </div>
  );
}
