// Assistant speech out: 24 kHz PCM16 into the playback worklet's jitter buffer.

import playbackWorkletUrl from "./worklets/playback.worklet.ts?worker&url";
import { startWorklet } from "./workletNode";
import type { PlaybackCommand, PlaybackOptions, PlaybackReport } from "./worklets/messages";

export const OUTPUT_RATE = 24000;
/** Pre-buffer before playback starts: covers ordinary network jitter at little delay. */
const JITTER_TARGET_MS = 60;
/** Engines send answers faster than real time; hold up to this much. */
const MAX_BUFFER_SECONDS = 120;

export class Player {
  private constructor(
    private readonly context: AudioContext,
    private readonly node: AudioWorkletNode,
  ) {}

  static async open(onReport: (report: PlaybackReport) => void, sourceRate = OUTPUT_RATE): Promise<Player> {
    let context: AudioContext;
    try {
      // Running the context at the source rate keeps resampling out of the worklet.
      context = new AudioContext({ sampleRate: sourceRate, latencyHint: "interactive" });
    } catch {
      context = new AudioContext({ latencyHint: "interactive" });
    }
    const node = await startWorklet<PlaybackOptions, PlaybackReport>(context, {
      url: playbackWorkletUrl,
      processor: "voice-playback",
      inputs: 0,
      options: { sourceRate, targetMs: JITTER_TARGET_MS, maxSeconds: MAX_BUFFER_SECONDS },
      onMessage: onReport,
    });
    return new Player(context, node);
  }

  get contextRate(): number {
    return this.context.sampleRate;
  }

  /** Queues PCM16LE audio; the buffer is handed over to the audio thread, not copied. */
  push(pcm: ArrayBuffer): void {
    const command: PlaybackCommand = { type: "push", pcm };
    this.node.port.postMessage(command, [pcm]);
  }

  /** Drops everything queued: the next render block is silent. */
  flush(): void {
    const command: PlaybackCommand = { type: "flush" };
    this.node.port.postMessage(command);
  }

  close(): void {
    this.node.port.onmessage = null;
    void this.context.close();
  }
}
