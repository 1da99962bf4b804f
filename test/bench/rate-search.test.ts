import { describe, expect, test } from "bun:test";
import { findMaxRate, passes, type SearchOptions, type StepResult } from "./rate-search.ts";

const OPTS: SearchOptions = {
  start: 500,
  max: 64_000,
  min: 50,
  maxDropsPct: 1,
  minAchievedShare: 0.9,
  resolution: 0.05,
  maxSteps: 40,
  deadline: Number.POSITIVE_INFINITY,
  retryFailures: false,
};

/** A fake server that answers everything up to `capacity` exchanges/s and drops the excess. */
const server = (capacity: number) => {
  const tried: number[] = [];
  const measure = async (rate: number): Promise<StepResult> => {
    tried.push(rate);
    const achieved = Math.min(rate, capacity);
    return { rate, achieved, dropsPct: (100 * (rate - achieved)) / rate };
  };
  return { measure, tried };
};

describe("findMaxRate", () => {
  test("doubles, then bisects to within the resolution below the capacity", async () => {
    const s = server(6000);
    const r = await findMaxRate(s.measure, OPTS);
    expect(s.tried.slice(0, 6)).toEqual([500, 1000, 2000, 4000, 8000, 6000]);
    expect(r.best!.rate).toBeLessThanOrEqual(6060); // 1 % drops allowed
    expect(r.best!.rate).toBeGreaterThan(6060 * 0.95);
    expect(r.cut).toBeUndefined();
  });

  test("halves when even the start fails", async () => {
    const s = server(120);
    const r = await findMaxRate(s.measure, OPTS);
    expect(s.tried.slice(0, 4)).toEqual([500, 250, 125, 63]);
    expect(r.best!.rate).toBeGreaterThan(115);
    expect(r.best!.rate).toBeLessThanOrEqual(121);
  });

  test("a server that never answers has no best rate", async () => {
    const s = server(0);
    const r = await findMaxRate(s.measure, OPTS);
    expect(r.best).toBeUndefined();
    expect(Math.min(...s.tried)).toBeGreaterThanOrEqual(OPTS.min);
  });

  test("stops at max when everything passes", async () => {
    const s = server(1e9);
    const r = await findMaxRate(s.measure, { ...OPTS, max: 4000 });
    expect(s.tried).toEqual([500, 1000, 2000, 4000]);
    expect(r.best!.rate).toBe(4000);
  });

  test("a failure is measured twice when retries are on; one good run counts", async () => {
    let calls = 0;
    const flaky = async (rate: number): Promise<StepResult> => {
      calls++;
      // 2000 fails on its first run only; 4000 always fails.
      const bad = rate >= 4000 || (rate === 2000 && calls === 3);
      return { rate, achieved: bad ? rate * 0.5 : rate, dropsPct: bad ? 50 : 0 };
    };
    const r = await findMaxRate(flaky, { ...OPTS, retryFailures: true, resolution: 0.6 });
    expect(r.steps.map((s) => s.rate)).toEqual([500, 1000, 2000, 2000, 4000, 4000, 3000]);
    expect(r.best!.rate).toBe(3000);
  });

  test("the step cap and the deadline end the search and say so", async () => {
    const byCap = await findMaxRate(server(1e9).measure, { ...OPTS, maxSteps: 3 });
    expect(byCap.steps.length).toBe(3);
    expect(byCap.cut).toBe("step cap");
    let t = 0;
    const byTime = await findMaxRate(server(1e9).measure, { ...OPTS, deadline: 2 }, () => t++);
    expect(byTime.steps.length).toBe(2);
    expect(byTime.cut).toBe("time cap");
  });

  test("a step that completes too little of the offered rate fails even without drops", () => {
    expect(passes({ rate: 1000, achieved: 850, dropsPct: 0 }, OPTS)).toBe(false);
    expect(passes({ rate: 1000, achieved: 950, dropsPct: 1 }, OPTS)).toBe(true);
    expect(passes({ rate: 1000, achieved: 990, dropsPct: 1.01 }, OPTS)).toBe(false);
  });
});
