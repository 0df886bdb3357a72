import { describe, expect, it } from "vitest";
import type { ServerEvent } from "../net/protocol";
import { type Activity, ActivityTracker, INTERRUPTED_MS } from "./activity";

const turn = (role: "user" | "assistant", turnId: number, state: "started" | "ended"): ServerEvent => ({
  event: "turn",
  role,
  turnId,
  state,
});
const transcript = (role: "user" | "assistant", turnId: number, stage: "speculative" | "final"): ServerEvent => ({
  event: "transcript",
  role,
  turnId,
  text: "…",
  stage,
  interrupted: false,
});
const stop = (turnId: number): ServerEvent => ({ event: "stop", turnId });

/** A tracker engaged on an open link, and a way to step it and read the activity. */
function conversation() {
  const tracker = new ActivityTracker();
  let now = 1000;
  tracker.setEngaged(true);
  tracker.setLinkOpen(true);
  tracker.session(false);
  return {
    tracker,
    event(event: ServerEvent, after = 10): Activity {
      now += after;
      tracker.serverEvent(event, now);
      return tracker.activity(now);
    },
    playback(playing: boolean, after = 10): Activity {
      now += after;
      tracker.playback(playing);
      return tracker.activity(now);
    },
    textSent(): Activity {
      tracker.textSent();
      return tracker.activity(now);
    },
    wait(ms: number): Activity {
      now += ms;
      return tracker.activity(now);
    },
    get now() {
      return now;
    },
  };
}

describe("ActivityTracker", () => {
  it("is idle until engaged and connecting until the link opens", () => {
    const tracker = new ActivityTracker();
    expect(tracker.activity(0)).toBe("idle");
    tracker.setEngaged(true);
    expect(tracker.activity(0)).toBe("connecting");
    tracker.setLinkOpen(true);
    expect(tracker.activity(0)).toBe("listening");
    tracker.setLinkOpen(false);
    expect(tracker.activity(0)).toBe("connecting");
    tracker.setEngaged(false);
    expect(tracker.activity(0)).toBe("idle");
  });

  it("greets with the opening turn until its audio has played out, then listens", () => {
    const c = conversation();
    expect(c.event(turn("assistant", 1, "started"))).toBe("greeting");
    expect(c.event(transcript("assistant", 1, "speculative"))).toBe("greeting");
    expect(c.playback(true)).toBe("greeting");
    // The engine sends faster than real time: the turn ends long before its audio has played.
    expect(c.event(turn("assistant", 1, "ended"))).toBe("greeting");
    expect(c.playback(false, 3000)).toBe("listening");
  });

  it("keeps greeting across a gap in the greeting's audio", () => {
    const c = conversation();
    c.event(turn("assistant", 1, "started"));
    c.playback(true);
    expect(c.playback(false)).toBe("greeting");
    expect(c.playback(true)).toBe("greeting");
  });

  it("thinks from the end of the person's speech to the first audio, speaks through gaps, then listens", () => {
    const c = conversation();
    expect(c.event(transcript("user", 1, "speculative"))).toBe("listening");
    expect(c.event(transcript("user", 1, "final"))).toBe("thinking");
    expect(c.event(turn("assistant", 2, "started"))).toBe("thinking");
    expect(c.playback(true)).toBe("speaking");
    // The network was late: the player ran dry inside the answer.
    expect(c.playback(false)).toBe("speaking");
    expect(c.playback(true)).toBe("speaking");
    expect(c.event(turn("assistant", 2, "ended"))).toBe("speaking");
    expect(c.playback(false)).toBe("listening");
  });

  it("thinks after typed text, and an answer to it is not a greeting", () => {
    const c = conversation();
    expect(c.textSent()).toBe("thinking");
    expect(c.event(turn("assistant", 1, "started"))).toBe("thinking");
    expect(c.playback(true)).toBe("speaking");
  });

  it("shows an interruption for a moment, then listens", () => {
    const c = conversation();
    c.event(transcript("user", 1, "final"));
    c.event(turn("assistant", 2, "started"));
    c.playback(true);
    expect(c.event(stop(2))).toBe("interrupted");
    expect(c.tracker.changesAt(c.now)).toBe(c.now + INTERRUPTED_MS);
    // The person goes on talking; the interrupted turn ends.
    expect(c.event(transcript("user", 3, "speculative"))).toBe("interrupted");
    expect(c.event(turn("assistant", 2, "ended"))).toBe("interrupted");
    expect(c.wait(INTERRUPTED_MS)).toBe("listening");
    expect(c.tracker.changesAt(c.now)).toBeNull();
  });

  it("is not left speaking by a start the player reported just before it took the flush", () => {
    const c = conversation();
    c.textSent();
    c.event(turn("assistant", 1, "started"));
    c.playback(true);
    c.event(stop(1));
    // The worklet had restarted after a gap in the audio and said so before the flush reached it;
    // its "flushed" report comes after that "started", and the session reads it as not playing.
    expect(c.playback(true)).toBe("speaking");
    expect(c.playback(false)).toBe("interrupted");
  });

  it("thinks as soon as the interrupting question is over", () => {
    const c = conversation();
    c.textSent();
    c.event(turn("assistant", 1, "started"));
    c.playback(true);
    c.event(stop(1));
    expect(c.event(transcript("user", 2, "final"), 300)).toBe("thinking");
    expect(c.playback(true)).toBe("speaking");
  });

  it("ends the greeting when the person interrupts it", () => {
    const c = conversation();
    c.event(turn("assistant", 1, "started"));
    c.playback(true);
    expect(c.event(stop(1))).toBe("interrupted");
    expect(c.event(turn("assistant", 3, "started"), INTERRUPTED_MS)).toBe("thinking");
  });

  it("greets again in a new session but not in a resumed one", () => {
    const c = conversation();
    c.event(turn("assistant", 1, "started"));
    c.event(turn("assistant", 1, "ended"));
    c.event(transcript("user", 2, "final"));
    c.tracker.session(true);
    expect(c.event(turn("assistant", 3, "started"))).toBe("thinking");
    c.tracker.session(false);
    expect(c.event(turn("assistant", 1, "started"))).toBe("greeting");
  });

  it("speaks whatever plays without turn events (the loopback engine)", () => {
    const c = conversation();
    expect(c.playback(true)).toBe("speaking");
    expect(c.playback(false)).toBe("listening");
  });
});
