import { describe, expect, it } from "vitest";
import { authorization } from "./api";
import { parseRecording } from "./config";
import { clock, lineAt, transcriptLines } from "./history";

const turns = [
  { turnId: 2, role: "assistant" as const, start: 4.2, end: 6.0, text: "It is noon.", interrupted: false },
  { turnId: 1, role: "assistant" as const, start: 0.3, end: 1.5, text: "Hello, I am", interrupted: true },
  { turnId: 2, role: "user" as const, start: 1.6, end: 3.9, text: "What time is it?", interrupted: false },
  { turnId: 3, role: "user" as const, start: 7.0, end: 7.5, text: " ", interrupted: false },
];

describe("transcriptLines", () => {
  it("orders the spoken turns by time and marks the interrupted answer", () => {
    const lines = transcriptLines(turns);
    expect(lines.map((l) => [l.speaker, l.start, l.interrupted])).toEqual([
      ["Assistant", 0.3, true],
      ["You", 1.6, false],
      ["Assistant", 4.2, false],
    ]);
  });
});

describe("lineAt", () => {
  it("is the last line started by then", () => {
    const lines = transcriptLines(turns);
    expect(lineAt(lines, 0)).toBeNull();
    expect(lineAt(lines, 2.0)?.text).toBe("What time is it?");
    expect(lineAt(lines, 4.2)?.text).toBe("It is noon.");
  });
});

describe("clock", () => {
  it("shows minutes and seconds", () => {
    expect(clock(0)).toBe("0:00");
    expect(clock(75.9)).toBe("1:15");
  });
});

describe("parseRecording", () => {
  it("is null when conversations are not recorded", () => {
    expect(parseRecording({ recording: null }, "http://x")).toBeNull();
    expect(parseRecording({}, "http://x")).toBeNull();
  });
  it("takes the API's origin, or this page's", () => {
    expect(parseRecording({ recording: { optOut: true, url: "http://127.0.0.1:8084/" } }, "http://x")).toEqual({
      optOut: true,
      apiBase: "http://127.0.0.1:8084",
    });
    expect(parseRecording({ recording: { url: "" } }, "http://page")).toEqual({ optOut: false, apiBase: "http://page" });
    expect(parseRecording({ recording: { url: "javascript:alert(1)" } }, "http://page")).toBeNull();
  });
});

describe("authorization", () => {
  it("turns the WebSocket credential into a header", () => {
    expect(authorization("key.abc")).toBe("ApiKey abc");
    expect(authorization("bearer.x.y.z")).toBe("Bearer x.y.z");
  });
});
