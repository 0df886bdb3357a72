// One conversation's link to the edge: opens /ws, keeps it alive across drops and server restarts
// by resuming the session with its token, and says plainly why when it cannot.

import { backoffDelay } from "./backoff";
import { CLIENT_OFFLINE, type CloseVerdict, judgeClose } from "./closeCodes";
import {
  type ClientMessage,
  type ServerEvent,
  type SessionEvent,
  offeredProtocols,
  parseServerEvent,
  socketUrl,
} from "./protocol";

export type LinkState = "connecting" | "open" | "reconnecting" | "closed";

export interface LinkCallbacks {
  /** State changes, with a sentence for the person when there is something to say. */
  onState(state: LinkState, note: string): void;
  onSession(session: SessionEvent, resumed: boolean): void;
  onEvent(event: ServerEvent): void;
  onAudio(pcm: ArrayBuffer): void;
  /** The link is closed for good: the conversation ended, or the person must act. */
  onClosed(verdict: CloseVerdict, code: number): void;
}

/** Gives up reconnecting after this many attempts in a row (about a minute with the backoff). */
const MAX_ATTEMPTS = 10;
/** Waits this long for the server's close after sending `end` before closing from this side. */
const END_GRACE_MS = 2000;

export class VoiceConnection {
  private ws: WebSocket | null = null;
  private session: SessionEvent | null = null;
  private endRequested = false;
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private waitingOnline: (() => void) | null = null;
  private disposed = false;
  /** Why the current series of reconnection attempts began, shown until it succeeds. */
  private dropNote = "";
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    /** The credential subprotocol (`bearer.<jwt>` or `key.<k>`), asked for on every connect. */
    private readonly credential: () => Promise<string>,
    private readonly callbacks: LinkCallbacks,
    private readonly location: { protocol: string; host: string } = window.location,
  ) {}

  get sessionId(): string | null {
    return this.session?.sessionId ?? null;
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && this.session !== null;
  }

  start(): void {
    // A socket can look open for a long while after the network went away; the browser knows sooner.
    window.addEventListener("offline", this.onOffline);
    window.addEventListener("pagehide", this.onPageHide);
    void this.connect("connecting", "");
  }

  private readonly onOffline = (): void => {
    this.ws?.close(CLIENT_OFFLINE, "offline");
  };

  /**
   * Leaving the page (closing the tab, reloading, navigating away) ends the conversation: a page
   * that comes back cannot pick it up without the person pressing Engage again (the microphone
   * needs a gesture), so keeping it resumable would only hold a place nobody returns to. Only a
   * dropped network leaves the session waiting for a resume.
   */
  private readonly onPageHide = (): void => {
    this.endRequested = true;
    this.cancelRetry();
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "end" } satisfies ClientMessage));
      ws.close(1000, "page closed");
    }
  };

  sendAudio(pcm: ArrayBuffer): boolean {
    if (!this.isOpen) return false; // dropped, not queued: stale speech would only confuse the turn
    this.ws!.send(pcm);
    this.bytesOut += pcm.byteLength;
    return true;
  }

  send(message: ClientMessage): boolean {
    if (!this.isOpen) return false;
    this.ws!.send(JSON.stringify(message));
    return true;
  }

  /** Ends the session on the server, then closes. */
  end(): void {
    this.endRequested = true;
    this.cancelRetry();
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "end" } satisfies ClientMessage));
      setTimeout(() => ws.readyState !== WebSocket.CLOSED && ws.close(1000), END_GRACE_MS);
    } else {
      ws?.close(1000);
      this.finish({ step: "ended", message: "" }, 1000);
    }
  }

  /** Closes without ending the session (the page is going away): it stays resumable for a while. */
  dispose(): void {
    this.disposed = true;
    this.cancelRetry();
    this.stopWatchingNetwork();
    this.ws?.close(1000, "page closed");
    this.ws = null;
  }

  private async connect(state: LinkState, note: string): Promise<void> {
    if (this.disposed || this.endRequested) return;
    if (state === "connecting") this.callbacks.onState(state, note); // a reconnect said so already
    let credential: string;
    try {
      credential = await this.credential();
    } catch (error) {
      this.finish({ step: "sign_in", message: `Sign-in is needed again: ${String(error)}` }, 4401);
      return;
    }
    const resuming = this.session;
    const ws = new WebSocket(
      socketUrl(this.location, resuming?.sessionId),
      offeredProtocols(credential, resuming?.resumeToken),
    );
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let gotSession = false;
    ws.onmessage = (message: MessageEvent<string | ArrayBuffer>) => {
      if (typeof message.data !== "string") {
        this.bytesIn += message.data.byteLength;
        this.callbacks.onAudio(message.data);
        return;
      }
      const event = parseServerEvent(message.data);
      if (!event) return;
      if (event.event === "session") {
        gotSession = true;
        const resumed = resuming !== null && resuming.sessionId === event.sessionId;
        this.session = event;
        this.attempts = 0;
        this.callbacks.onState("open", resumed ? "Reconnected: the conversation goes on." : "");
        this.callbacks.onSession(event, resumed);
        return;
      }
      this.callbacks.onEvent(event);
    };
    ws.onclose = (close: CloseEvent) => {
      if (this.ws !== ws) return; // an older socket we already replaced
      this.ws = null;
      this.onClose(close.code, close.reason, gotSession);
    };
  }

  private onClose(code: number, reason: string, hadSession: boolean): void {
    if (this.disposed) return;
    const verdict = judgeClose(code, reason, this.endRequested);
    switch (verdict.step) {
      case "ended":
      case "stop":
      case "sign_in":
        this.finish(verdict, code);
        return;
      case "new_session":
        this.session = null;
        this.scheduleReconnect(verdict.message, 0);
        return;
      case "resume":
      case "retry": {
        if (++this.attempts > MAX_ATTEMPTS) {
          this.finish({ step: "stop", message: "Could not reconnect to the server. Press Engage to try again." }, code);
          return;
        }
        // A failed attempt while the server is still away says less than the close that began it.
        if (this.attempts === 1 || code !== 1006) this.dropNote = verdict.message;
        // A restart announced with 1012 deserves a quick first try; a drop or a refusal waits longer.
        const quick = code === 1012 && this.attempts === 1 && hadSession;
        this.scheduleReconnect(this.dropNote, quick ? 200 : backoffDelay(this.attempts - 1));
      }
    }
  }

  private scheduleReconnect(note: string, delayMs: number): void {
    this.callbacks.onState("reconnecting", note);
    const go = () => void this.connect("reconnecting", note);
    if (typeof navigator !== "undefined" && navigator.onLine === false) {
      // No network at all: wait for it to come back instead of burning attempts.
      this.waitingOnline = () => {
        this.waitingOnline = null;
        go();
      };
      window.addEventListener("online", this.waitingOnline, { once: true });
      return;
    }
    this.retryTimer = setTimeout(go, delayMs);
  }

  private stopWatchingNetwork(): void {
    window.removeEventListener("offline", this.onOffline);
    window.removeEventListener("pagehide", this.onPageHide);
  }

  private cancelRetry(): void {
    clearTimeout(this.retryTimer);
    if (this.waitingOnline) window.removeEventListener("online", this.waitingOnline);
    this.waitingOnline = null;
  }

  private finish(verdict: CloseVerdict, code: number): void {
    this.cancelRetry();
    this.stopWatchingNetwork();
    this.callbacks.onState("closed", verdict.message);
    this.callbacks.onClosed(verdict, code);
  }
}
