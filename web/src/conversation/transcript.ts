// The conversation as the person reads it: user and assistant turns, speculative text shown until
// the final text replaces it, interrupted turns marked. Pure functions over an immutable list.

import type { Role, TranscriptEvent } from "../net/protocol";

export interface TranscriptTurn {
  key: string;
  role: Role | "notice";
  /** The server's turn id; null for typed text not yet acknowledged, and for notices. */
  turnId: number | null;
  /** Text confirmed as final (what was actually said). */
  finalText: string;
  /** Speculative text not yet confirmed, oldest first: what the assistant is about to say. */
  pending: string[];
  interrupted: boolean;
  typed: boolean;
}

let nextKey = 0;
const newKey = () => `t${++nextKey}`;

const normalise = (text: string) => text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim();

function join(a: string, b: string): string {
  return a && b ? `${a} ${b}` : a || b;
}

/** The text to show: the final part, then what is still speculative. */
export function shownText(turn: TranscriptTurn): { final: string; speculative: string } {
  return { final: turn.finalText, speculative: turn.pending.join(" ") };
}

/** The line of (role, turn id). Turn ids name one turn for the session's whole life, across
 * handovers to other workers and resumes (the server's turn ledger hands them out), so the lines
 * are one session-long map from turn id to line: a new id is always a new line. */
function findTurn(turns: TranscriptTurn[], role: Role, turnId: number): number {
  for (let i = turns.length - 1; i >= 0; i--) {
    const t = turns[i]!;
    if (t.role === role && t.turnId === turnId) return i;
  }
  return -1;
}

/** Typed text waiting for the server's user transcript of it. */
function findTyped(turns: TranscriptTurn[], text: string): number {
  const wanted = normalise(text);
  return turns.findIndex((t) => t.typed && t.turnId === null && normalise(t.finalText) === wanted);
}

export function applyTranscript(turns: TranscriptTurn[], event: TranscriptEvent): TranscriptTurn[] {
  let index = findTurn(turns, event.role, event.turnId);
  let list = turns;
  if (index < 0 && event.role === "user") {
    // The engine repeats typed text as the user's transcript: adopt the line already shown.
    const typed = findTyped(turns, event.text);
    if (typed >= 0) {
      list = turns.map((t, i) => (i === typed ? { ...t, turnId: event.turnId } : t));
      index = typed;
    }
  }
  if (index < 0) {
    const turn: TranscriptTurn = {
      key: newKey(),
      role: event.role,
      turnId: event.turnId,
      finalText: "",
      pending: [],
      interrupted: false,
      typed: false,
    };
    list = [...list, turn];
    index = list.length - 1;
  }
  const current = list[index]!;
  const updated =
    event.stage === "speculative"
      ? { ...current, pending: [...current.pending, event.text] }
      : confirm(current, event);
  return list.map((t, i) => (i === index ? updated : t));
}

function confirm(turn: TranscriptTurn, event: TranscriptEvent): TranscriptTurn {
  if (turn.typed && normalise(turn.finalText) === normalise(event.text)) {
    return { ...turn, interrupted: turn.interrupted || event.interrupted };
  }
  // A final replaces the oldest speculative part; after an interruption nothing more will be said.
  const pending = event.interrupted ? [] : turn.pending.slice(1);
  return {
    ...turn,
    finalText: join(turn.finalText, event.text.trim()),
    pending,
    interrupted: turn.interrupted || event.interrupted,
  };
}

/** `stop`: the assistant's turn was cut off; its final text (what was spoken) may still follow. */
export function markInterrupted(turns: TranscriptTurn[], turnId: number): TranscriptTurn[] {
  const index = findTurn(turns, "assistant", turnId);
  if (index < 0) return turns;
  return turns.map((t, i) => (i === index ? { ...t, interrupted: true } : t));
}

export function addTyped(turns: TranscriptTurn[], text: string): TranscriptTurn[] {
  return [
    ...turns,
    { key: newKey(), role: "user", turnId: null, finalText: text, pending: [], interrupted: false, typed: true },
  ];
}

export function addNotice(turns: TranscriptTurn[], text: string): TranscriptTurn[] {
  return [
    ...turns,
    { key: newKey(), role: "notice", turnId: null, finalText: text, pending: [], interrupted: false, typed: false },
  ];
}
