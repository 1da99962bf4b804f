// Give memory back to the system once the server has gone quiet after work.
//
// A burst (a boot storm, a bulk import, a start-up) leaves the process holding memory it no
// longer needs: compiled JIT code for paths that ran once, and heap pages the collector freed but
// the allocator keeps for the next burst. Neither shrinks by itself while the server sits idle,
// which is most of a provisioning server's life (measured in bench:memory: ~19 MB over idle, 30 s
// after 200 DHCP clients). Once the process has used no CPU to speak of for `quietMs` after
// having been busy, we ask the engine to drop its compiled code, collect fully and return free
// pages (Bun.shrink). The next request pays for compiling its path again, once.
//
// Busy and quiet are read from the process's CPU time (every thread: DHCP, TFTP workers, the API),
// sampled once a second, so no service has to report its activity. Background ticks (timers, an
// HA pair's heartbeats) stay under the busy threshold and never trigger a reclaim by themselves,
// and a reclaim's own CPU is not counted as work: so there is at most one reclaim per busy spell,
// never closer together than `quietMs` plus a second.

import { fullGC } from "bun:jsc";

export interface IdleReclaimPolicy {
  /** How long the process must stay quiet after being busy before memory is given back. */
  quietMs: number;
  /** CPU time over wall time (1 = one core) above which a sample counts as busy. */
  busyFraction: number;
}

export const DEFAULT_IDLE_RECLAIM: IdleReclaimPolicy = { quietMs: 10_000, busyFraction: 0.02 };

/**
 * The decision, without clocks or timers: fed the time and the process's cumulative CPU time,
 * it says when to reclaim. The process counts as busy from its start (start-up is work).
 */
export class IdleDetector {
  #last: { atMs: number; cpuUs: number } | undefined;
  #busySinceReclaim = true;
  #lastBusyMs: number;
  /** The sample after a reclaim holds the reclaim's own CPU: not work. */
  #skipNext = false;

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
    if (last === undefined || atMs <= last.atMs) return false;
    if (this.#skipNext) {
      this.#skipNext = false;
      return false;
    }
    const fraction = (cpuUs - last.cpuUs) / 1000 / (atMs - last.atMs);
    if (fraction > this.policy.busyFraction) {
      this.#busySinceReclaim = true;
      this.#lastBusyMs = atMs;
      return false;
    }
    if (!this.#busySinceReclaim) return false;
    if (atMs - this.#lastBusyMs < this.policy.quietMs) return false;
    this.#busySinceReclaim = false;
    this.#skipNext = true;
    return true;
  }
}

/** Drop compiled code, collect and hand free pages back (Bun.shrink runs when the engine is next idle). */
export function reclaimMemory(): void {
  const shrink = (Bun as unknown as { shrink?: () => void }).shrink;
  if (typeof shrink === "function") shrink.call(Bun);
  else fullGC();
}

export interface IdleReclaimOptions {
  policy?: IdleReclaimPolicy;
  /** Called with the RSS before a reclaim and at the next sample, in bytes. */
  onReclaim?: (rssBefore: number, rssAfter: number) => void;
  /** Tests: the clock, the CPU clock, the action and the sampling period. */
  nowMs?: () => number;
  cpuUs?: () => number;
  reclaim?: () => void;
  sampleMs?: number;
}

/** Sample once a second (unref'd) and reclaim when the detector says so; returns the stop function. */
export function startIdleReclaim(opts: IdleReclaimOptions = {}): () => void {
  const nowMs = opts.nowMs ?? (() => performance.now());
  const cpuUs = opts.cpuUs ?? (() => {
    const u = process.cpuUsage();
    return u.user + u.system;
  });
  const reclaim = opts.reclaim ?? reclaimMemory;
  const detector = new IdleDetector(opts.policy ?? DEFAULT_IDLE_RECLAIM, nowMs());
  let rssBefore: number | undefined;
  const timer = setInterval(() => {
    if (rssBefore !== undefined) {
      opts.onReclaim?.(rssBefore, process.memoryUsage.rss());
      rssBefore = undefined;
    }
    if (!detector.sample(nowMs(), cpuUs())) return;
    if (opts.onReclaim) rssBefore = process.memoryUsage.rss();
    reclaim();
  }, opts.sampleMs ?? 1000);
  timer.unref?.();
  return () => clearInterval(timer);
}
