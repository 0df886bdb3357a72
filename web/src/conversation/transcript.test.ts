import { describe, expect, it } from "vitest";
import type { TranscriptEvent } from "../net/protocol";
import { addTyped, applyTranscript, markInterrupted, shownText } from "./transcript";

const t = (
  role: "user" | "assistant",
  turnId: number,
  text: string,
  stage: "speculative" | "final",
  interrupted = false,
): TranscriptEvent => ({ event: "transcript", role, turnId, text, stage, interrupted });

describe("transcript", () => {
  it("shows speculative text, then replaces it with the final text", () => {
    let turns = applyTranscript([], t("assistant", 1, "Cloud storage keeps files.", "speculative"));
    expect(shownText(turns[0]!)).toEqual({ final: "", speculative: "Cloud storage keeps files." });
    turns = applyTranscript(turns, t("assistant", 1, "Cloud storage keeps files.", "final"));
    expect(turns).toHaveLength(1);
    expect(shownText(turns[0]!)).toEqual({ final: "Cloud storage keeps files.", speculative: "" });
  });

  it("keeps user and assistant turns apart, in order", () => {
    let turns = applyTranscript([], t("user", 1, "hello", "final"));
    turns = applyTranscript(turns, t("assistant", 1, "Hi!", "final"));
    turns = applyTranscript(turns, t("user", 2, "more", "final"));
    expect(turns.map((x) => [x.role, x.turnId, x.finalText])).toEqual([
      ["user", 1, "hello"],
      ["assistant", 1, "Hi!"],
      ["user", 2, "more"],
    ]);
  });

  it("confirms speculative parts one by one, as Nova Sonic sends them", () => {
    let turns = applyTranscript([], t("assistant", 3, "One.", "speculative"));
    turns = applyTranscript(turns, t("assistant", 3, "Two.", "speculative"));
    turns = applyTranscript(turns, t("assistant", 3, "One.", "final"));
    expect(shownText(turns[0]!)).toEqual({ final: "One.", speculative: "Two." });
  });

  it("marks an interrupted turn and keeps only what was spoken", () => {
    let turns = applyTranscript([], t("assistant", 2, "A long answer about databases.", "speculative"));
    turns = markInterrupted(turns, 2);
    expect(turns[0]!.interrupted).toBe(true);
    turns = applyTranscript(turns, t("assistant", 2, "A long answer", "final", true));
    expect(shownText(turns[0]!)).toEqual({ final: "A long answer", speculative: "" });
    expect(turns[0]!.interrupted).toBe(true);
  });

  it("adopts the user's transcript of typed text instead of showing it twice", () => {
    let turns = addTyped([], "What time is it?");
    turns = applyTranscript(turns, t("user", 4, "what time is it", "final"));
    expect(turns).toHaveLength(1);
    expect(turns[0]).toMatchObject({ turnId: 4, typed: true, finalText: "What time is it?" });
  });

  it("ignores an interruption of a turn it never saw", () => {
    const turns = applyTranscript([], t("user", 1, "hi", "final"));
    expect(markInterrupted(turns, 9)).toBe(turns);
  });
});
