// The debug panel's event log: newest last, bounded.

export type LogKind = "in" | "out" | "info" | "error";

export interface LogEntry {
  id: number;
  at: number;
  kind: LogKind;
  text: string;
}

const LIMIT = 300;
const TEXT_LIMIT = 240;
let nextId = 0;

export function appendLog(log: LogEntry[], kind: LogKind, text: string, at = Date.now()): LogEntry[] {
  const entry = { id: ++nextId, at, kind, text: text.length > TEXT_LIMIT ? `${text.slice(0, TEXT_LIMIT)}…` : text };
  return log.length >= LIMIT ? [...log.slice(log.length - LIMIT + 1), entry] : [...log, entry];
}
