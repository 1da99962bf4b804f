import { describe, expect, test } from "bun:test";
import { DEFAULT_IDLE_RECLAIM, IdleDetector, startIdleReclaim, type IdleReclaimPolicy, type ReclaimReport } from "./idle-reclaim.ts";

const POLICY: IdleReclaimPolicy = DEFAULT_IDLE_RECLAIM; // quiet 10 s, busy > 2 %, work >= 1 s of CPU, grace 5 s

/**
 * Feed one sample a second; `cpuMsPerSecond[i]` is the CPU used in second i+1. Each reclaim is
 * told it gave back `freed` bytes. Returns the seconds at which it said reclaim.
 */
function run(cpuMsPerSecond: number[], freed = 10 << 20, policy: IdleReclaimPolicy = POLICY): number[] {
  const d = new IdleDetector(policy, 0);
  let cpuUs = 0;
  const out: number[] = [];
  d.sample(0, cpuUs);
  cpuMsPerSecond.forEach((ms, i) => {
    cpuUs += ms * 1000;
    if (d.sample((i + 1) * 1000, cpuUs)) {
      out.push(i + 1);
      d.reclaimed(freed);
    }
  });
  return out;
}

const quiet = (n: number, ms = 1) => Array<number>(n).fill(ms);
const busy = (n: number, ms = 400) => Array<number>(n).fill(ms);
/** `n` periods of `period` seconds: one second costing `ms`, then quiet ticks of `idleMs` a second. */
const periodic = (n: number, period: number, ms: number, idleMs = 5) => Array.from({ length: n }, () => [ms, ...quiet(period - 1, idleMs)]).flat();

describe("IdleDetector", () => {
  test("start-up counts as work: one reclaim once the process has been quiet for quietMs, then none while it stays quiet", () => {
    expect(run(quiet(120))).toEqual([10]);
  });

  test("background ticks under the busy threshold never trigger another reclaim", () => {
    // 15 ms a second is under 2 % of a core: an HA pair's heartbeats, timers.
    expect(run([...quiet(12), ...quiet(300, 15)])).toEqual([10]);
  });

  test("a busy spell of real work: one reclaim quietMs after its last busy second, not before", () => {
    // Busy seconds 13-17 (2 s of CPU); quiet from 18; reclaim at 17 + 10.
    expect(run([...quiet(12), ...busy(5), ...quiet(30)])).toEqual([10, 27]);
  });

  test("short periodic work (a metrics scrape every 15 s, 30 ms each) reclaims only once its CPU adds up to minWorkMs", () => {
    // 30 ms per scrape: 1 s of work after 34 scrapes (~8.5 min), so at most one reclaim per ~8 min.
    const got = run([...quiet(12), ...periodic(80, 15, 30)]);
    expect(got[0]).toBe(10);
    expect(got.length).toBeLessThanOrEqual(3);
    for (let i = 1; i < got.length; i++) expect(got[i]! - got[i - 1]!).toBeGreaterThanOrEqual(500);
  });

  test("a busy second within the quiet wait starts the wait again", () => {
    // Busy 21-23, quiet 24-28, busy 29: the reclaim comes 10 s after 29, not after 23.
    expect(run([...quiet(20), ...busy(3), ...quiet(5), 400, ...quiet(12)])).toEqual([10, 39]);
  });

  test("for graceMs after a reclaim nothing counts: its own collection and code compiled again do not start another", () => {
    // Seconds 11-15 after the reclaim at 10 burn 300 ms each (1.5 s in all): inside the grace window.
    expect(run([...quiet(10), ...busy(5, 300), ...quiet(60)])).toEqual([10]);
  });

  test("a reclaim that gave back little doubles the wait before the next, up to maxGapMs; one that gave back enough resets it", () => {
    const d = new IdleDetector(POLICY, 0);
    d.reclaimed(1 << 20);
    expect(d.gapMs).toBe(60_000);
    d.reclaimed(0);
    expect(d.gapMs).toBe(120_000);
    for (let i = 0; i < 10; i++) d.reclaimed(0);
    expect(d.gapMs).toBe(POLICY.maxGapMs);
    d.reclaimed(POLICY.smallGainBytes);
    expect(d.gapMs).toBe(0);
    // In a run: work every 30 s, each reclaim giving back nothing: 10 (start-up), then spaced by the growing gap.
    const got = run([...quiet(12), ...periodic(40, 30, 1500)], 0);
    expect(got[0]).toBe(10);
    expect(got[2]! - got[1]!).toBeGreaterThanOrEqual(60);
    expect(got[3]! - got[2]!).toBeGreaterThanOrEqual(120);
  });

  test("the threshold is CPU over wall time: under 2 % of a core over a longer period is still quiet", () => {
    const d = new IdleDetector(POLICY, 0);
    d.sample(0, 0);
    expect(d.sample(20_000, 300_000)).toBe(true); // 300 ms over 20 s = 1.5 %: quiet since start-up
    expect(d.sample(40_000, 2_000_000)).toBe(false); // 1.7 s over 20 s = 8.5 %: busy, and work enough
    expect(d.sample(55_000, 2_010_000)).toBe(true); // quiet for 15 s after it
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
  const fast: IdleReclaimPolicy = { ...POLICY, quietMs: 50, graceMs: 0 };

  test("samples on its timer, reclaims once when quiet, reports RSS and the pause, and stops", async () => {
    let now = 0;
    let reclaims = 0;
    const reports: ReclaimReport[] = [];
    const stop = startIdleReclaim({
      policy: fast,
      nowMs: () => (now += 10),
      cpuUs: () => 0,
      heapBytes: () => 1 << 20,
      reclaim: () => reclaims++,
      onReclaim: (r) => reports.push(r),
      sampleMs: 1,
    });
    await Bun.sleep(100);
    stop();
    const seen = reclaims;
    await Bun.sleep(30);
    expect(seen).toBe(1);
    expect(reclaims).toBe(1);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.rssBefore).toBeGreaterThan(0);
    expect(reports[0]!.rssAfter).toBeGreaterThan(0);
    expect(reports[0]!.pauseMs).toBeGreaterThanOrEqual(0);
  });

  test("a heap above maxHeapBytes is not reclaimed (the pause would be long); the skip is reported once", async () => {
    let now = 0;
    let reclaims = 0;
    const skips: number[] = [];
    const stop = startIdleReclaim({
      policy: fast,
      maxHeapBytes: 64 << 20,
      nowMs: () => (now += 10),
      cpuUs: () => 0,
      heapBytes: () => 300 << 20,
      reclaim: () => reclaims++,
      onSkip: (h) => skips.push(h),
      sampleMs: 1,
    });
    await Bun.sleep(100);
    stop();
    expect(reclaims).toBe(0);
    expect(skips).toEqual([300 << 20]);
  });

  test("a throw inside a sample is reported, not raised (a timer's throw would end the process), and sampling goes on", async () => {
    let now = 0;
    let calls = 0;
    const errors: unknown[] = [];
    const stop = startIdleReclaim({
      policy: fast,
      nowMs: () => (now += 10),
      cpuUs: () => {
        calls++;
        throw new Error("no clock");
      },
      onError: (e) => errors.push(e),
      sampleMs: 1,
    });
    await Bun.sleep(50);
    stop();
    expect(calls).toBeGreaterThan(2);
    expect(errors.length).toBe(calls);
    expect((errors[0] as Error).message).toBe("no clock");
  });
});
