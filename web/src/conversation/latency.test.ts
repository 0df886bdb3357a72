import { describe, expect, it } from "vitest";
import { LatencyTracker } from "./latency";

describe("LatencyTracker", () => {
  it("measures from the last voiced frame to the first audio of the answer", () => {
    const tracker = new LatencyTracker();
    tracker.voiceSent(1000);
    tracker.voiceSent(1500);
    tracker.replyExpected(3);
    expect(tracker.audioArrived(2100)).toEqual({ turnId: 3, ms: 600, from: "speech" });
    expect(tracker.audioArrived(2200)).toBeNull(); // only the first audio counts
  });

  it("measures from typed text when that came last", () => {
    const tracker = new LatencyTracker();
    tracker.voiceSent(100);
    tracker.textSent(500);
    expect(tracker.audioArrived(900)).toEqual({ turnId: null, ms: 400, from: "text" });
  });

  it("records nothing for audio nobody waited for, or after an interruption", () => {
    const tracker = new LatencyTracker();
    tracker.voiceSent(100);
    expect(tracker.audioArrived(200)).toBeNull();
    tracker.replyExpected(1);
    tracker.reset();
    expect(tracker.audioArrived(300)).toBeNull();
  });
});
