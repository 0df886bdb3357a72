import { useEffect, useRef } from "react";

/** Calls `draw` on every animation frame while mounted, with the time in ms. */
export function useAnimationFrame(draw: (now: number) => void): void {
  const latest = useRef(draw);
  latest.current = draw;
  useEffect(() => {
    let frame = requestAnimationFrame(function tick(now) {
      latest.current(now);
      frame = requestAnimationFrame(tick);
    });
    return () => cancelAnimationFrame(frame);
  }, []);
}
