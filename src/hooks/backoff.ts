// When a failed delivery is tried again. Exponential backoff, base * 2^(n-1) after the n-th failed
// attempt, capped (1 h), with jitter over the upper half of the step ([d/2, d]) so that hooks that
// failed together (a receiver that was down) do not come back in lockstep, while each gap is still
// at least as long as the one before it. A receiver that says Retry-After (429, 503) is believed up
// to the same cap.

export const DEFAULT_BACKOFF_BASE_MS = 10_000;
export const DEFAULT_BACKOFF_CAP_MS = 3_600_000;

export interface Backoff {
  baseMs: number;
  capMs: number;
}

/** The wait after failed attempt `attempt` (1-based); `random` in [0, 1). */
export function retryDelayMs(attempt: number, b: Backoff, random: number = Math.random()): number {
  const step = Math.min(b.capMs, b.baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(step / 2 + (random * step) / 2);
}

/**
 * Retry-After as a wait in ms (delta-seconds or an HTTP date), capped; undefined when absent or
 * unreadable.
 */
export function retryAfterMs(header: string | null, capMs: number, now: number = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    // An HTTP date names its weekday and month; Date.parse would take "-5" as a year.
    if (!/[A-Za-z]/.test(text)) return undefined;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, capMs);
}
