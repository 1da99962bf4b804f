// Give memory back to the system once the server has gone quiet after work.
//
// A burst (a boot storm, a bulk import, a start-up) leaves the process holding memory it no
// longer needs: compiled JIT code for paths that ran once, and heap pages the collector freed but
// the allocator keeps for the next burst. Neither shrinks by itself while the server sits idle,
// which is most of a provisioning server's life (measured in bench:memory: ~19 MB over idle, 30 s
// after 200 DHCP clients). Once the process has used no CPU to speak of for `quietMs` after real
// work, we ask the engine to drop its compiled code, collect fully and return free pages
// (Bun.shrink). The next request pays for compiling its path again, once.
//
// Busy and quiet are read from the process's CPU time (every thread: DHCP, TFTP workers, the API),
// sampled once a second, so no service has to report its activity. What keeps it from repeating:
//   - only a spell of at least `minWorkMs` of CPU counts as work (start-up always does), so
//     background ticks, a metrics scrape or a health check never trigger a reclaim by themselves;
//   - for `graceMs` after a reclaim nothing counts (its own collection, code compiled again);
//   - a reclaim that gave back little doubles the wait before the next one (up to an hour).
// The collection stops the main thread for as long as a full GC takes (2 ms at a few MB of heap,
// ~130-190 ms at 300 MB in a synthetic test), so it is skipped above `maxHeapBytes`: a large store
// would pause long enough to matter (an HA pair's heartbeats), for a gain that is small beside it.

import { fullGC, heapSize } from "bun:jsc";

export interface IdleReclaimPolicy {
  /** How long the process must stay quiet after work before memory is given back. */
  quietMs: number;
  /** CPU time over wall time (1 = one core) above which a sample counts as busy. */
  busyFraction: number;
  /** The CPU a busy spell must add up to before it counts as work. */
  minWorkMs: number;
  /** After a reclaim, how long samples are not counted at all. */
  graceMs: number;
  /** A reclaim that gave back less than this doubles the wait before the next. */
  smallGainBytes: number;
  /** The longest wait between reclaims that backing off reaches. */
  maxGapMs: number;
}

export const DEFAULT_IDLE_RECLAIM: IdleReclaimPolicy = {
  quietMs: 10_000,
  busyFraction: 0.02,
  minWorkMs: 1_000,
  graceMs: 5_000,
  smallGainBytes: 2 << 20,
  maxGapMs: 3_600_000,
};

/** No reclaim while the JavaScript heap is larger than this (the full collection's pause grows with it). */
export const DEFAULT_MAX_HEAP_BYTES = 192 << 20;

/**
 * The decision, without clocks or timers: fed the time and the process's cumulative CPU time,
 * it says when to reclaim; told what a reclaim gave back, it backs off when that was little.
 */
export class IdleDetector {
  #last: { atMs: number; cpuUs: number } | undefined;
  /** CPU of busy samples since the last reclaim, in ms; start-up counts whatever it cost. */
  #workMs = Number.POSITIVE_INFINITY;
  #lastBusyMs: number;
  #lastReclaimMs = Number.NEGATIVE_INFINITY;
  #graceUntilMs = Number.NEGATIVE_INFINITY;
  /** Extra wait after a reclaim that gave back little; 0 after one that gave back enough. */
  #gapMs = 0;

  constructor(
    private readonly policy: IdleReclaimPolicy,
    startMs: number,
  ) {
    this.#lastBusyMs = startMs;
  }

  /** One sample; true when memory should be given back now. */
  sample(atMs: number, cpuUs: number): boolean {
    const last = this.#last;
    this.#last = { atMs, cpuUs };
    if (last === undefined || atMs <= last.atMs || atMs < this.#graceUntilMs) return false;
    const cpuMs = (cpuUs - last.cpuUs) / 1000;
    if (cpuMs / (atMs - last.atMs) > this.policy.busyFraction) {
      this.#workMs += cpuMs;
      this.#lastBusyMs = atMs;
      return false;
    }
    if (this.#workMs < this.policy.minWorkMs) return false;
    if (atMs - this.#lastBusyMs < this.policy.quietMs) return false;
    if (atMs - this.#lastReclaimMs < this.#gapMs) return false;
    this.#workMs = 0;
    this.#lastReclaimMs = atMs;
    this.#graceUntilMs = atMs + this.policy.graceMs;
    return true;
  }

  /** What the last reclaim gave back: little doubles the wait before the next one. */
  reclaimed(freedBytes: number): void {
    this.#gapMs =
      freedBytes >= this.policy.smallGainBytes ? 0 : Math.min(this.policy.maxGapMs, Math.max(60_000, this.#gapMs * 2));
  }

  /** The current extra wait between reclaims (tests, logs). */
  get gapMs(): number {
    return this.#gapMs;
  }
}

/** Drop compiled code, collect and hand free pages back (Bun.shrink runs when the engine is next idle). */
export function reclaimMemory(): void {
  const shrink = (Bun as unknown as { shrink?: () => void }).shrink;
  if (typeof shrink === "function") shrink.call(Bun);
  else fullGC();
}

export interface ReclaimReport {
  rssBefore: number;
  rssAfter: number;
  /** How late a timer set just before the reclaim fired: the main thread's pause. */
  pauseMs: number;
}

export interface IdleReclaimOptions {
  policy?: IdleReclaimPolicy;
  maxHeapBytes?: number;
  /** After each reclaim, at the next sample. */
  onReclaim?: (r: ReclaimReport) => void;
  /** A reclaim skipped because the heap is larger than maxHeapBytes (once per busy spell). */
  onSkip?: (heapBytes: number) => void;
  onError?: (err: unknown) => void;
  /** Tests: the clocks, the heap size, the action and the sampling period. */
  nowMs?: () => number;
  cpuUs?: () => number;
  heapBytes?: () => number;
  reclaim?: () => void;
  sampleMs?: number;
}

/** Sample once a second (unref'd) and reclaim when the detector says so; returns the stop function. */
export function startIdleReclaim(opts: IdleReclaimOptions = {}): () => void {
  const nowMs = opts.nowMs ?? (() => performance.now());
  const cpuUs =
    opts.cpuUs ??
    (() => {
      const u = process.cpuUsage();
      return u.user + u.system;
    });
  const heapBytes = opts.heapBytes ?? heapSize;
  const maxHeap = opts.maxHeapBytes ?? DEFAULT_MAX_HEAP_BYTES;
  const reclaim = opts.reclaim ?? reclaimMemory;
  const detector = new IdleDetector(opts.policy ?? DEFAULT_IDLE_RECLAIM, nowMs());
  let pending: { rssBefore: number; pauseMs: number } | undefined;
  const tick = () => {
    if (pending !== undefined) {
      const rssAfter = process.memoryUsage.rss();
      detector.reclaimed(pending.rssBefore - rssAfter);
      opts.onReclaim?.({ rssBefore: pending.rssBefore, rssAfter, pauseMs: pending.pauseMs });
      pending = undefined;
    }
    if (!detector.sample(nowMs(), cpuUs())) return;
    const heap = heapBytes();
    if (heap > maxHeap) {
      opts.onSkip?.(heap);
      return;
    }
    const p = { rssBefore: process.memoryUsage.rss(), pauseMs: 0 };
    pending = p;
    reclaim();
    const t0 = performance.now();
    setTimeout(() => (p.pauseMs = performance.now() - t0), 0).unref?.();
  };
  const timer = setInterval(() => {
    try {
      tick();
    } catch (err) {
      pending = undefined;
      opts.onError?.(err);
    }
  }, opts.sampleMs ?? 1000);
  timer.unref?.();
  return () => clearInterval(timer);
}
