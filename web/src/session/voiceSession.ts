// One conversation: the microphone, the player, the link to the edge, the transcript, and the
// numbers of the debug panel. React reads it through subscribe/getSnapshot.

import { Microphone, MicrophoneError } from "../audio/microphone";
import { OUTPUT_RATE, Player } from "../audio/player";
import type { CaptureFrame, PlaybackReport } from "../audio/worklets/messages";
import type { Credential } from "../auth/credential";
import { LipSync } from "../avatar/lipSync";
import { HeardTracker } from "../conversation/heard";
import { type LatencyRecord, LatencyTracker } from "../conversation/latency";
import {
  type TranscriptTurn,
  addNotice,
  addTyped,
  applyTranscript,
  markInterrupted,
} from "../conversation/transcript";
import { type CloseVerdict, errorEndsSession } from "../net/closeCodes";
import type { ServerEvent, SessionEvent } from "../net/protocol";
import { type LinkState, VoiceConnection } from "../net/voiceConnection";
import { type Activity, ActivityTracker } from "./activity";
import { type LogEntry, type LogKind, appendLog } from "./eventLog";
import { type Meters, newMeters } from "./meters";
export type MicState = "off" | "starting" | "on" | "unavailable";
export type Tone = "info" | "warning" | "error";

export interface SessionSnapshot {
  engaged: boolean;
  link: LinkState | "idle";
  activity: Activity;
  notice: { tone: Tone; text: string } | null;
  sessionId: string | null;
  mic: MicState;
  micProblem: string | null;
  muted: boolean;
  turns: TranscriptTurn[];
  log: LogEntry[];
  latencies: LatencyRecord[];
  /**
   * What the engine does beyond speech, from the last `session` event (a resumed connection gets it
   * again); null until the first. A handover to another worker does not update it.
   */
  capabilities: readonly string[] | null;
  /** The credential was refused or expired: the page should ask to sign in again. */
  signInNeeded: boolean;
}

/** Microphone frames louder than this (about -36 dBFS) count as speech for the latency clock. */
const VOICED_RMS = 0.016;

const initial: SessionSnapshot = {
  engaged: false,
  link: "idle",
  activity: "idle",
  notice: null,
  sessionId: null,
  mic: "off",
  micProblem: null,
  muted: false,
  turns: [],
  log: [],
  latencies: [],
  capabilities: null,
  signInNeeded: false,
};

export class VoiceSession {
  readonly meters: Meters = newMeters();
  /** The mouth shape of what is playing, for the avatar. */
  readonly lipSync = new LipSync(this.meters);
  private snapshot: SessionSnapshot = initial;
  private readonly listeners = new Set<() => void>();
  private notifyQueued = false;
  private readonly latency = new LatencyTracker();
  private readonly tracker = new ActivityTracker();
  private activityTimer: ReturnType<typeof setTimeout> | null = null;
  private connection: VoiceConnection | null = null;
  private microphone: Microphone | null = null;
  private player: Player | null = null;
  private stopRenewals: (() => void) | null = null;
  private lastSessionId: string | null = null;
  /** What of an interrupted answer was played, reported to the server after the flush. */
  private heard = new HeardTracker(OUTPUT_RATE);

  constructor(private readonly credential: Credential) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): SessionSnapshot => this.snapshot;

  private update(change: Partial<SessionSnapshot>): void {
    const next = { ...this.snapshot, ...change };
    if (change.engaged !== undefined) this.tracker.setEngaged(change.engaged);
    if (change.link !== undefined) this.tracker.setLinkOpen(change.link === "open");
    next.activity = this.currentActivity();
    this.snapshot = next;
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      this.listeners.forEach((listener) => listener());
    });
  }

  /** The activity now; re-renders by itself when it would change with no event (after "interrupted"). */
  private currentActivity(): Activity {
    const now = performance.now();
    const at = this.tracker.changesAt(now);
    if (this.activityTimer) clearTimeout(this.activityTimer);
    this.activityTimer = at === null ? null : setTimeout(() => this.update({}), at - now + 1);
    return this.tracker.activity(now);
  }

  private log(kind: LogKind, text: string): void {
    this.update({ log: appendLog(this.snapshot.log, kind, text) });
  }

  /** A line in the debug panel's event log from elsewhere on the page (the avatar). */
  note(kind: LogKind, text: string): void {
    this.log(kind, text);
  }

  // --- what the person does -----------------------------------------------------------------

  async engage(): Promise<void> {
    if (this.snapshot.engaged) return;
    this.update({ engaged: true, link: "connecting", notice: null, signInNeeded: false, mic: "starting" });
    this.log("info", "engage");
    try {
      // Created inside the click, so the browser lets it play.
      this.player = await Player.open((report) => this.onPlayback(report));
      this.lipSync.attach(this.player);
    } catch (error) {
      this.update({ engaged: false, link: "idle", mic: "off" });
      this.notify("error", `Audio playback could not start: ${String(error)}`);
      return;
    }
    const connection = new VoiceConnection(() => this.credential.subprotocol(), {
      onState: (state, note) => this.onLinkState(state, note),
      onSession: (session, resumed) => this.onSession(session, resumed),
      onEvent: (event) => this.onEvent(event),
      onAudio: (pcm) => this.onAudio(pcm),
      onClosed: (verdict, code) => this.onClosed(verdict, code),
    });
    this.connection = connection;
    this.stopRenewals = this.credential.onRenewed((token) => this.sendRenewedToken(token));
    connection.start();
    try {
      this.microphone = await Microphone.open((frame) => this.onMicFrame(frame));
      if (this.connection !== connection) {
        this.microphone.close(); // disconnected while the browser was asking for permission
        this.microphone = null;
        return;
      }
      this.update({ mic: "on", micProblem: null });
      this.log("info", `microphone: ${this.microphone.label || "default"} at ${this.microphone.deviceRate} Hz`);
    } catch (error) {
      const message = error instanceof MicrophoneError ? error.message : String(error);
      this.update({ mic: "unavailable", micProblem: message });
      this.log("error", `microphone: ${message}`);
    }
  }

  disconnect(): void {
    if (!this.connection) return;
    this.log("out", '{"type":"end"}');
    this.connection.end();
  }

  sendText(text: string): boolean {
    const trimmed = text.trim();
    if (!trimmed || !this.connection?.send({ type: "text", text: trimmed })) return false;
    this.latency.textSent(performance.now());
    this.tracker.textSent();
    this.update({ turns: addTyped(this.snapshot.turns, trimmed) });
    this.log("out", JSON.stringify({ type: "text", text: trimmed }));
    return true;
  }

  setMuted(muted: boolean): void {
    this.update({ muted });
    this.log("info", muted ? "microphone muted" : "microphone live");
  }

  dispose(): void {
    this.connection?.dispose();
    this.teardown();
    if (this.activityTimer) clearTimeout(this.activityTimer);
  }

  // --- audio ----------------------------------------------------------------------------------

  private onMicFrame(frame: CaptureFrame): void {
    this.meters.micLevel = frame.rms;
    if (this.snapshot.muted || !this.connection?.sendAudio(frame.pcm)) return;
    this.meters.framesOut++;
    this.meters.bytesOut = this.connection.bytesOut;
    if (frame.rms > VOICED_RMS) this.latency.voiceSent(performance.now());
  }

  private onAudio(pcm: ArrayBuffer): void {
    this.meters.audioChunksIn++;
    this.meters.bytesIn += pcm.byteLength;
    const record = this.latency.audioArrived(performance.now());
    if (record) {
      this.update({ latencies: [...this.snapshot.latencies, record].slice(-50) });
      this.log("info", `first audio of turn ${record.turnId ?? "?"}: ${record.ms} ms after the end of ${record.from}`);
    }
    this.heard.audio(pcm.byteLength);
    this.player?.push(pcm);
  }

  private onPlayback(report: PlaybackReport): void {
    switch (report.type) {
      case "level":
        this.meters.outLevel = report.rms;
        this.meters.bufferedMs = report.bufferedMs;
        return;
      case "started":
        this.meters.playing = true;
        this.tracker.playback(true);
        this.update({});
        return;
      case "drained":
        this.meters.playing = false;
        this.meters.outLevel = 0;
        this.tracker.playback(false);
        this.update({});
        return;
      case "flushed":
        // Not playing, whatever came before: a "started" the worklet posted just before it took
        // the flush arrives after the `stop` that asked for it, and no "drained" follows it.
        this.meters.playing = false;
        this.meters.outLevel = 0;
        this.tracker.playback(false);
        this.meters.flushedMs += report.droppedMs;
        this.log("info", `playback flushed (${Math.round(report.droppedMs)} ms dropped)`);
        this.reportHeard(report.droppedMs);
    }
  }

  // --- the link -------------------------------------------------------------------------------

  private onLinkState(state: LinkState, note: string): void {
    const tone: Tone = state === "reconnecting" ? "warning" : "info";
    this.update({ link: state, notice: note ? { tone, text: note } : this.snapshot.notice });
    if (state !== "open") this.log("info", `link ${state}${note ? `: ${note}` : ""}`);
  }

  private onSession(session: SessionEvent, resumed: boolean): void {
    this.log("in", `session ${session.sessionId}${resumed ? " (resumed)" : ""}`);
    let turns = this.snapshot.turns;
    if (resumed) turns = addNotice(turns, "Reconnected. The conversation goes on.");
    else if (this.lastSessionId) turns = addNotice(turns, "A new session started.");
    if (!resumed) this.latency.reset();
    this.tracker.session(resumed);
    this.lastSessionId = session.sessionId;
    this.heard = new HeardTracker(session.outputRate);
    // The engine's rate (the loopback echo is 16 kHz), for this connection; set before its audio.
    this.player?.setSourceRate(session.outputRate);
    this.update({
      sessionId: session.sessionId,
      capabilities: session.capabilities,
      turns,
      notice: resumed ? this.snapshot.notice : null,
    });
    if (resumed) setTimeout(() => this.clearNotice("Reconnected"), 4000);
  }

  private onEvent(event: ServerEvent): void {
    this.log(event.event === "error" ? "error" : "in", JSON.stringify(event));
    this.tracker.serverEvent(event, performance.now());
    switch (event.event) {
      case "stop":
        this.heard.stop(event.turnId);
        this.interruptPlayback();
        this.update({ turns: markInterrupted(this.snapshot.turns, event.turnId) });
        return;
      case "transcript":
        if (event.role === "user" && event.stage === "final") this.latency.replyExpected(event.turnId);
        this.update({ turns: applyTranscript(this.snapshot.turns, event) });
        return;
      case "turn":
        if (event.role === "assistant" && event.state === "started") {
          this.latency.replyExpected(event.turnId);
          this.heard.turnStarted(event.turnId);
        }
        if (event.role === "assistant" && event.state === "ended") this.latency.reset();
        this.update({});
        return;
      case "auth":
        if (event.state === "expiring") void this.renewToken();
        return;
      case "error":
        // One that ends the session shows as an error until the close explains what happens next.
        this.notify(errorEndsSession(event.code) ? "error" : "warning", `${event.message} (${event.code})`);
        return;
      default:
        return;
    }
  }

  /** After a `stop`'s flush: tell the server how much of the turn was played (its FINAL keeps that). */
  private reportHeard(droppedMs: number): void {
    const played = this.heard.flushed(droppedMs);
    if (played && this.connection?.send(played)) this.log("out", JSON.stringify(played));
  }

  /** `stop`: the person interrupted. Silence now, not after the queued audio. */
  private interruptPlayback(): void {
    this.player?.flush();
    this.meters.playing = false;
    this.meters.outLevel = 0;
    this.meters.bufferedMs = 0;
    this.meters.stops++;
    this.latency.reset();
  }

  private async renewToken(): Promise<void> {
    try {
      const token = await this.credential.renew();
      if (token) this.sendRenewedToken(token);
    } catch (error) {
      this.log("error", `token renewal failed: ${String(error)}`);
    }
  }

  private sendRenewedToken(token: string): void {
    if (this.connection?.send({ type: "auth", token })) this.log("out", '{"type":"auth","token":"…"}');
  }

  private onClosed(verdict: CloseVerdict, code: number): void {
    this.log(verdict.step === "ended" ? "info" : "error", `closed ${code}: ${verdict.step}`);
    this.teardown();
    const tone: Tone = verdict.step === "ended" ? "info" : "error";
    this.update({
      engaged: false,
      link: "closed",
      mic: "off",
      notice: verdict.message ? { tone, text: verdict.message } : null,
      signInNeeded: verdict.step === "sign_in",
    });
  }

  private teardown(): void {
    this.stopRenewals?.();
    this.stopRenewals = null;
    this.microphone?.close();
    this.microphone = null;
    this.lipSync.attach(null);
    this.player?.close();
    this.player = null;
    this.connection = null;
    Object.assign(this.meters, { micLevel: 0, outLevel: 0, bufferedMs: 0, playing: false });
    this.latency.reset();
  }

  private notify(tone: Tone, text: string): void {
    this.update({ notice: { tone, text } });
  }

  private clearNotice(startingWith: string): void {
    if (this.snapshot.notice?.text.startsWith(startingWith)) this.update({ notice: null });
  }
}
