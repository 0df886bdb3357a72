// The microphone: echo cancellation and noise suppression on, through the capture worklet, out as
// 16 kHz PCM16 frames.

import captureWorkletUrl from "./worklets/capture.worklet.ts?worker&url";
import { startWorklet } from "./workletNode";
import type { CaptureFrame, CaptureOptions } from "./worklets/messages";

export const INPUT_RATE = 16000;
/** 20 ms frames: small enough for quick turn-taking, large enough to keep the frame rate modest. */
export const FRAME_MS = 20;

export type MicrophoneProblem = "denied" | "missing" | "busy" | "insecure" | "failed";

export class MicrophoneError extends Error {
  constructor(
    readonly problem: MicrophoneProblem,
    message: string,
  ) {
    super(message);
  }
}

const MESSAGES: Record<MicrophoneProblem, string> = {
  denied: "Microphone access was denied. Allow it in the browser's site settings, or type your questions instead.",
  missing: "No microphone was found. Connect one, or type your questions instead.",
  busy: "The microphone is in use by another program. Close it, or type your questions instead.",
  insecure: "The microphone needs a secure page (https or localhost).",
  failed: "The microphone could not be started. You can still type your questions.",
};

function classify(error: unknown): MicrophoneError {
  const name = error instanceof DOMException ? error.name : "";
  const problem: MicrophoneProblem =
    name === "NotAllowedError" || name === "SecurityError"
      ? "denied"
      : name === "NotFoundError" || name === "OverconstrainedError"
        ? "missing"
        : name === "NotReadableError" || name === "AbortError"
          ? "busy"
          : "failed";
  return new MicrophoneError(problem, MESSAGES[problem]);
}

export class Microphone {
  private constructor(
    private readonly stream: MediaStream,
    private readonly context: AudioContext,
    private readonly node: AudioWorkletNode,
  ) {}

  static async open(onFrame: (frame: CaptureFrame) => void): Promise<Microphone> {
    if (!navigator.mediaDevices?.getUserMedia) throw new MicrophoneError("insecure", MESSAGES.insecure);
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (error) {
      throw classify(error);
    }
    const context = new AudioContext({ latencyHint: "interactive" });
    try {
      const node = await startWorklet<CaptureOptions, CaptureFrame>(context, {
        url: captureWorkletUrl,
        processor: "voice-capture",
        inputs: 1,
        options: { targetRate: INPUT_RATE, frameSamples: (INPUT_RATE * FRAME_MS) / 1000 },
        onMessage: onFrame,
      });
      context.createMediaStreamSource(stream).connect(node);
      return new Microphone(stream, context, node);
    } catch (error) {
      stream.getTracks().forEach((track) => track.stop());
      void context.close();
      throw new MicrophoneError("failed", `${MESSAGES.failed} (${String(error)})`);
    }
  }

  get label(): string {
    return this.stream.getAudioTracks()[0]?.label ?? "";
  }

  get deviceRate(): number {
    return this.context.sampleRate;
  }

  close(): void {
    this.node.port.onmessage = null;
    this.stream.getTracks().forEach((track) => track.stop());
    void this.context.close();
  }
}
