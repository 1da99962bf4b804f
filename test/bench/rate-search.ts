// Finds the highest offered rate a server sustains with at most `maxDropsPct` drops: doubles the
// rate from `start` until a step fails, then bisects between the last pass and the first failure.
// A failed step is measured once more before it counts (other work on a shared machine can spoil
// one run; a server that really cannot keep up fails twice). Bounded by `maxSteps` and `deadline`.

export interface StepResult {
  /** Offered rate (exchanges/s). */
  rate: number;
  /** Completed exchanges per second. */
  achieved: number;
  dropsPct: number;
}

export interface SearchOptions {
  start: number;
  /** Highest rate tried (the doubling stops there). */
  max: number;
  /** Lowest rate tried when even `start` fails (halving stops there). */
  min: number;
  maxDropsPct: number;
  /** A pass must also complete at least this share of the offered rate (else the client lags). */
  minAchievedShare: number;
  /** Bisection stops when the gap between pass and fail is below this share of the pass. */
  resolution: number;
  maxSteps: number;
  /** performance.now() value after which no new step starts. */
  deadline: number;
  /** Measure a failed step a second time before counting it as failed. */
  retryFailures: boolean;
}

export interface SearchResult<T extends StepResult> {
  /** The best passing step, or undefined when none passed. */
  best: T | undefined;
  /** Every measurement in order. */
  steps: T[];
  /** Why the search ended early, if it did ("time cap", "step cap"). */
  cut?: string;
}

export function passes(r: StepResult, o: Pick<SearchOptions, "maxDropsPct" | "minAchievedShare">): boolean {
  return r.dropsPct <= o.maxDropsPct && r.achieved >= r.rate * o.minAchievedShare;
}

export async function findMaxRate<T extends StepResult>(
  measure: (rate: number) => Promise<T>,
  o: SearchOptions,
  now: () => number = () => performance.now(),
): Promise<SearchResult<T>> {
  const steps: T[] = [];
  let best: T | undefined;
  let cut: string | undefined;
  const canStep = () => {
    if (steps.length >= o.maxSteps) cut = "step cap";
    else if (now() >= o.deadline) cut = "time cap";
    return cut === undefined;
  };
  /** Measure `rate`; true when it passes (on the first or the repeated run). */
  const tryRate = async (rate: number): Promise<boolean | undefined> => {
    for (let attempt = 0; attempt < (o.retryFailures ? 2 : 1); attempt++) {
      if (!canStep()) return undefined;
      const r = await measure(rate);
      steps.push(r);
      if (passes(r, o)) {
        if (!best || r.achieved > best.achieved) best = r;
        return true;
      }
    }
    return false;
  };

  let pass = 0;
  let fail = 0;
  let rate = Math.max(1, Math.round(o.start));
  // Up: double until the first failure (or max).
  for (;;) {
    const ok = await tryRate(rate);
    if (ok === undefined) return { best, steps, cut };
    if (!ok) {
      fail = rate;
      break;
    }
    pass = rate;
    if (rate >= o.max) return { best, steps };
    rate = Math.min(o.max, rate * 2);
  }
  // Down: when even the start failed, halve until a pass (or min).
  while (pass === 0) {
    rate = Math.round(fail / 2);
    if (rate < o.min) return { best, steps };
    const ok = await tryRate(rate);
    if (ok === undefined) return { best, steps, cut };
    if (ok) pass = rate;
    else fail = rate;
  }
  // Bisect between the last pass and the first failure.
  while ((fail - pass) / pass > o.resolution) {
    rate = Math.round((pass + fail) / 2);
    if (rate === pass || rate === fail) break;
    const ok = await tryRate(rate);
    if (ok === undefined) return { best, steps, cut };
    if (ok) pass = rate;
    else fail = rate;
  }
  return { best, steps };
}
