import { describe, expect, it } from "vitest";
import { HeardTracker } from "./heard";

const RATE = 24000;
const ms = (n: number) => (n / 1000) * RATE * 2; // bytes of PCM16 at 24 kHz

describe("HeardTracker", () => {
  it("reports the interrupted turn's audio received minus what the flush dropped", () => {
    const heard = new HeardTracker(RATE);
    heard.turnStarted(3);
    heard.audio(ms(1000));
    heard.audio(ms(1500));
    heard.stop(3);
    heard.audio(ms(100)); // nothing more of the turn counts once it was stopped
    expect(heard.flushed(900)).toEqual({ type: "played", turnId: 3, playedMs: 1600 });
    expect(heard.flushed(0)).toBeNull(); // one report per stop
  });

  it("counts each turn from its own start, and reports nothing for a stop of another turn", () => {
    const heard = new HeardTracker(RATE);
    heard.turnStarted(1);
    heard.audio(ms(2000));
    heard.turnStarted(2);
    heard.audio(ms(500));
    heard.stop(1);
    expect(heard.flushed(0)).toBeNull();
    heard.stop(2);
    expect(heard.flushed(800)).toEqual({ type: "played", turnId: 2, playedMs: 0 });
  });
});
