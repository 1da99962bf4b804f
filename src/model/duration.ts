// Durations as people type them, in one grammar for the API's `Prefer: wait=` and the CLI's
// `--timeout`: "30s", "10m", "1h", "250ms", "1.5s", or a plain number of seconds ("30").

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

const DURATION = /^(\d{1,9})(?:\.(\d{1,3}))?(ms|s|m|h)?$/;

/** Milliseconds of `raw` (rounded), or undefined when it is not a duration. A bare number is seconds. */
export function parseDuration(raw: string): number | undefined {
  const m = DURATION.exec(raw);
  if (!m) return undefined;
  const value = Number(`${m[1]}.${m[2] ?? "0"}`);
  return Math.round(value * (UNIT_MS[m[3] ?? "s"] as number));
}

/** `ms` the way parseDuration reads it back: "10m", "30s", "1.5s", "250ms". */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 || ms === 0) return `${Math.round(ms) / 1000}s`;
  return `${Math.round(ms)}ms`;
}
