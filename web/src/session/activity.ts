// What the assistant is doing, as the person should read it at a glance (the status badge and the
// avatar): derived from the link, the protocol's events and what the player actually plays.

import type { ServerEvent } from "../net/protocol";

export type Activity =
  | "idle" // not engaged
  | "connecting" // engaged, the link is not open (yet, or again)
  | "greeting" // the assistant's opening turn, before the person has said anything
  | "listening" // the person may talk
  | "thinking" // the person's turn is over and no answer is heard yet
  | "speaking" // an answer is playing
  | "interrupted"; // the person cut the answer off (shown briefly)

/** How long "interrupted" shows after a `stop` unless something else happens first. */
export const INTERRUPTED_MS = 1500;

/**
 * Follows a conversation's events and says what the assistant is doing. Feed it everything that
 * happens (the methods below), ask `activity(now)`; `changesAt()` says when the answer would change
 * with no event (so the page can re-render then).
 */
export class ActivityTracker {
  private engaged = false;
  private linkOpen = false;
  private playing = false;
  /** A reply is due: the person's turn ended (final transcript, typed text) or the assistant's began. */
  private awaiting = false;
  /** The person has taken a turn in this session (spoken, typed, or been heard). */
  private personSpoke = false;
  /** The assistant's opening turn, while it lasts (turn id), and whether its last audio was sent. */
  private greetingTurn: number | null = null;
  private greetingSent = false;
  /** Another assistant turn in progress (started, not ended), and whether its audio has played. */
  private answerTurn: number | null = null;
  private answerHeard = false;
  private interruptedAt = -Infinity;

  /** Engage pressed (true) or the conversation closed (false). */
  setEngaged(engaged: boolean): void {
    this.engaged = engaged;
    if (!engaged) this.clear();
  }

  setLinkOpen(open: boolean): void {
    this.linkOpen = open;
  }

  /** A session event: a new session starts afresh (it greets again); a resumed one carries on. */
  session(resumed: boolean): void {
    if (resumed) return;
    this.clear();
  }

  /** The person sent typed text: their turn is over. */
  textSent(): void {
    this.personTurn();
    this.awaiting = true;
  }

  /** The playback worklet started (true), or ran dry or was flushed (false). */
  playback(playing: boolean): void {
    this.playing = playing;
    if (playing) {
      this.awaiting = false;
      if (this.answerTurn !== null) this.answerHeard = true;
    } else if (this.greetingSent) {
      this.endGreeting();
    }
  }

  serverEvent(event: ServerEvent, now: number): void {
    switch (event.event) {
      case "stop":
        // The person barged in: that is their turn.
        this.personTurn();
        this.playing = false;
        this.awaiting = false;
        this.endAnswer();
        this.interruptedAt = now;
        return;
      case "transcript":
        if (event.role !== "user") return;
        this.personTurn();
        if (event.stage === "final") this.awaiting = true;
        return;
      case "turn":
        if (event.role === "user") {
          if (event.state === "started") this.personTurn();
          return;
        }
        if (event.state === "started") {
          if (!this.personSpoke && this.greetingTurn === null) this.greetingTurn = event.turnId;
          else if (event.turnId !== this.greetingTurn) this.endGreeting();
          if (event.turnId !== this.greetingTurn) {
            this.answerTurn = event.turnId;
            this.answerHeard = false;
          }
          this.awaiting = true;
        } else {
          this.awaiting = false;
          if (event.turnId === this.answerTurn) this.endAnswer();
          if (event.turnId === this.greetingTurn) {
            this.greetingSent = true;
            if (!this.playing) this.endGreeting();
          }
        }
        return;
      default:
        return;
    }
  }

  activity(now: number): Activity {
    if (!this.engaged) return "idle";
    if (!this.linkOpen) return "connecting";
    if (this.greetingTurn !== null) return "greeting";
    // A gap in an answer's audio (the network was late) is still speaking.
    if (this.playing || (this.answerTurn !== null && this.answerHeard)) return "speaking";
    if (this.awaiting) return "thinking";
    if (now - this.interruptedAt < INTERRUPTED_MS) return "interrupted";
    return "listening";
  }

  /** When `activity` will change by itself (ms, performance.now() clock), or null. */
  changesAt(now: number): number | null {
    const until = this.interruptedAt + INTERRUPTED_MS;
    return until > now ? until : null;
  }

  private personTurn(): void {
    this.personSpoke = true;
    this.endGreeting();
  }

  private endGreeting(): void {
    this.greetingTurn = null;
    this.greetingSent = false;
  }

  private endAnswer(): void {
    this.answerTurn = null;
    this.answerHeard = false;
  }

  private clear(): void {
    this.playing = false;
    this.awaiting = false;
    this.personSpoke = false;
    this.interruptedAt = -Infinity;
    this.endGreeting();
    this.endAnswer();
  }
}
