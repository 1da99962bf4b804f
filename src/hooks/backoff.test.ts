import { expect, test } from "bun:test";
import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS, retryAfterMs, retryDelayMs } from "./backoff.ts";

const b = { baseMs: DEFAULT_BACKOFF_BASE_MS, capMs: DEFAULT_BACKOFF_CAP_MS };

test("10 s * 2^(n-1), capped at 1 h, jittered over the upper half of the step", () => {
  const top = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => retryDelayMs(n, b, 1 - 1e-9));
  const bottom = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => retryDelayMs(n, b, 0));
  expect(top).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 1_280_000, 2_560_000, 3_600_000]);
  expect(bottom).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 1_280_000, 1_800_000]);
  expect(retryDelayMs(50, b, 0.5)).toBe(2_700_000);
  // Whatever the jitter, a gap is never shorter than the one before it (below the cap).
  for (let n = 1; n < 9; n++) expect(retryDelayMs(n + 1, b, 0)).toBeGreaterThanOrEqual(retryDelayMs(n, b, 1 - 1e-9));
});

test("a short base for tests scales the whole schedule", () => {
  expect(retryDelayMs(3, { baseMs: 100, capMs: 1000 }, 1 - 1e-9)).toBe(400);
  expect(retryDelayMs(9, { baseMs: 100, capMs: 1000 }, 1 - 1e-9)).toBe(1000);
});

test("Retry-After: seconds or an HTTP date, capped; junk is ignored", () => {
  expect(retryAfterMs("120", DEFAULT_BACKOFF_CAP_MS)).toBe(120_000);
  expect(retryAfterMs("999999", DEFAULT_BACKOFF_CAP_MS)).toBe(3_600_000);
  const now = Date.parse("2026-12-07T10:00:00Z");
  expect(retryAfterMs("Mon, 07 Dec 2026 10:00:30 GMT", DEFAULT_BACKOFF_CAP_MS, now)).toBe(30_000);
  expect(retryAfterMs("Mon, 07 Dec 2026 09:00:00 GMT", DEFAULT_BACKOFF_CAP_MS, now)).toBe(0);
  expect(retryAfterMs(null, DEFAULT_BACKOFF_CAP_MS)).toBeUndefined();
  expect(retryAfterMs("soon", DEFAULT_BACKOFF_CAP_MS)).toBeUndefined();
  expect(retryAfterMs("-5", DEFAULT_BACKOFF_CAP_MS)).toBeUndefined();
});
