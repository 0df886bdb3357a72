// The assistant's avatar: the 3D one (three.js, loaded in its own chunk after sign-in), or the 2D
// face where there is no WebGL 2. Decorative for screen readers: the status badge carries the state.

import { useEffect, useRef, useState } from "react";
import type { LipSync } from "../avatar/lipSync";
import type { AvatarHandle } from "../avatar/stage";
import type { AvatarStatus } from "../avatar/status";
import { probeWebGl2 } from "../avatar/webgl";
import type { Activity } from "../session/activity";
import type { LogKind } from "../session/eventLog";
import { Face2D } from "./Face2D";

interface Props {
  lipSync: LipSync;
  activity: Activity;
  /** The operator's model (glTF/GLB URL), or null for the built-in head. */
  modelUrl: string | null;
  status: AvatarStatus;
  note: (kind: LogKind, text: string) => void;
}

export function Avatar({ lipSync, activity, modelUrl, status, note }: Props) {
  const [webgl] = useState(probeWebGl2);
  const [flat, setFlat] = useState(webgl === null);
  const [ready, setReady] = useState(false);
  const canvas = useRef<HTMLCanvasElement>(null);
  const current = useRef(activity);
  current.current = activity;

  useEffect(() => {
    if (flat || !webgl) {
      status.renderer = "2d";
      return;
    }
    let handle: AvatarHandle | null = null;
    let cancelled = false;
    import("../avatar/stage")
      .then(({ startAvatar }) => {
        if (cancelled || !canvas.current) return;
        handle = startAvatar(canvas.current, {
          modelUrl,
          software: webgl.software,
          activity: () => current.current,
          mouth: (now) => lipSync.read(now),
          status,
          note,
        });
        setReady(true);
      })
      .catch((error: unknown) => {
        if (cancelled) return;
        status.problem = `The 3D avatar could not start (${String(error)}); the 2D face stands in.`;
        note("error", status.problem);
        setFlat(true);
      });
    return () => {
      cancelled = true;
      handle?.dispose();
    };
  }, [flat, webgl, modelUrl, lipSync, status, note]);

  if (flat) return <Face2D lipSync={lipSync} activity={activity} />;
  return (
    <canvas
      ref={canvas}
      className={`avatar avatar-3d${ready ? " ready" : ""}`}
      aria-hidden="true"
      data-avatar="3d"
      data-mouth="0.00"
    />
  );
}
