// Delays between reconnection attempts: exponential with jitter, so a restarted server is not hit
// by every client at the same instant.

export interface BackoffOptions {
  firstMs: number;
  maxMs: number;
  /** 0: exact delays; 0.5: each delay anywhere between 50 % and 100 % of the nominal one. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { firstMs: 500, maxMs: 10_000, jitter: 0.5 };

export function backoffDelay(attempt: number, options = DEFAULT_BACKOFF, random = Math.random): number {
  const nominal = Math.min(options.maxMs, options.firstMs * 2 ** Math.max(0, attempt));
  return Math.round(nominal * (1 - options.jitter * random()));
}
