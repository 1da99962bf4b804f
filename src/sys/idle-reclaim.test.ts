import { describe, expect, test } from "bun:test";
import { IdleDetector, startIdleReclaim, type IdleReclaimPolicy } from "./idle-reclaim.ts";

const POLICY: IdleReclaimPolicy = { quietMs: 10_000, busyFraction: 0.02 };

/** Feed one sample a second; `cpuMsPerSecond[i]` is the CPU used in second i+1. Returns the seconds at which it said reclaim. */
function run(cpuMsPerSecond: number[], policy: IdleReclaimPolicy = POLICY): number[] {
  const d = new IdleDetector(policy, 0);
  let cpuUs = 0;
  const out: number[] = [];
  d.sample(0, cpuUs);
  cpuMsPerSecond.forEach((ms, i) => {
    cpuUs += ms * 1000;
    if (d.sample((i + 1) * 1000, cpuUs)) out.push(i + 1);
  });
  return out;
}

const quiet = (n: number, ms = 1) => Array<number>(n).fill(ms);

describe("IdleDetector", () => {
  test("start-up counts as work: one reclaim once the process has been quiet for quietMs, then none while it stays quiet", () => {
    expect(run(quiet(60))).toEqual([10]);
  });

  test("background ticks under the busy threshold never trigger another reclaim", () => {
    // 15 ms a second is under 2 % of a core: an HA heartbeat, timers.
    expect(run([...quiet(12), ...quiet(120, 15)])).toEqual([10]);
  });

  test("a busy spell: one reclaim quietMs after its last busy second, not before", () => {
    const got = run([...quiet(12), ...Array<number>(5).fill(400), ...quiet(30)]);
    // Busy seconds 13-17; quiet from 18; reclaim at 17 + 10.
    expect(got).toEqual([10, 27]);
  });

  test("a busy second within the quiet wait starts the wait again", () => {
    const got = run([...quiet(12), 400, ...quiet(5), 400, ...quiet(12)]);
    expect(got).toEqual([10, 29]);
  });

  test("the sample after a reclaim holds the reclaim's own CPU and is not work", () => {
    // Second 11 is the reclaim itself (a full collection): busy by the threshold, ignored.
    expect(run([...quiet(10), 300, ...quiet(40)])).toEqual([10]);
  });

  test("the threshold is CPU over wall time: 2 % of a core over a longer period is still quiet", () => {
    const d = new IdleDetector(POLICY, 0);
    d.sample(0, 0);
    expect(d.sample(20_000, 300_000)).toBe(true); // 300 ms over 20 s = 1.5 %: quiet since start-up
    expect(d.sample(40_000, 800_000)).toBe(false); // the reclaim's sample
    expect(d.sample(60_000, 2_000_000)).toBe(false); // 1.2 s over 20 s = 6 %: busy
    expect(d.sample(75_000, 2_010_000)).toBe(true); // quiet for 15 s after it
  });

  test("a clock that does not move forward is ignored, not divided by", () => {
    const d = new IdleDetector(POLICY, 0);
    d.sample(1000, 0);
    expect(d.sample(1000, 50_000)).toBe(false);
    expect(d.sample(500, 60_000)).toBe(false);
    expect(d.sample(11_000, 60_000)).toBe(true);
  });
});

describe("startIdleReclaim", () => {
  test("samples on its timer, reclaims once when quiet, reports the RSS before and after, and stops", async () => {
    let now = 0;
    let reclaims = 0;
    const reports: Array<[number, number]> = [];
    const stop = startIdleReclaim({
      policy: { quietMs: 50, busyFraction: 0.02 },
      nowMs: () => (now += 10),
      cpuUs: () => 0,
      reclaim: () => reclaims++,
      onReclaim: (before, after) => reports.push([before, after]),
      sampleMs: 1,
    });
    await Bun.sleep(100);
    stop();
    const seen = reclaims;
    await Bun.sleep(30);
    expect(seen).toBe(1);
    expect(reclaims).toBe(1);
    expect(reports).toHaveLength(1);
    expect(reports[0]![0]).toBeGreaterThan(0);
    expect(reports[0]![1]).toBeGreaterThan(0);
  });
});
