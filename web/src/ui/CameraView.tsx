// An optional self-view from the webcam. The video stays in this page: it is never sent anywhere.

import { useEffect, useRef, useState } from "react";

export function CameraView() {
  const [on, setOn] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const video = useRef<HTMLVideoElement>(null);

  useEffect(() => {
    if (!on) return;
    let stream: MediaStream | null = null;
    let cancelled = false;
    navigator.mediaDevices
      ?.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false })
      .then((s) => {
        if (cancelled) return s.getTracks().forEach((t) => t.stop());
        stream = s;
        if (video.current) video.current.srcObject = s;
        setProblem(null);
      })
      .catch((error: unknown) => {
        const name = error instanceof DOMException ? error.name : "";
        setProblem(
          name === "NotAllowedError"
            ? "Camera access was denied."
            : name === "NotFoundError"
              ? "No camera was found."
              : "The camera could not be started.",
        );
        setOn(false);
      });
    return () => {
      cancelled = true;
      stream?.getTracks().forEach((t) => t.stop());
    };
  }, [on]);

  return (
    <div className="camera">
      <button type="button" className="button button-quiet" aria-pressed={on} onClick={() => setOn(!on)}>
        {on ? "Hide camera" : "Show camera"}
      </button>
      {problem && <p className="camera-problem">{problem}</p>}
      {on && (
        <figure className="camera-view">
          <video ref={video} autoPlay playsInline muted aria-label="Your camera (stays on this device)" />
          <figcaption>Only you see this; it never leaves the browser.</figcaption>
        </figure>
      )}
    </div>
  );
}
