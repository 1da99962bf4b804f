// The process's own metrics, under the names every Prometheus client library uses
// (process_resident_memory_bytes, process_cpu_seconds_total, process_start_time_seconds,
// process_open_fds, process_max_fds), so stock dashboards and alerts work, plus the event-loop
// delay and the build.
//
// prom-client's collectDefaultMetrics is not used: under Bun it reports V8 heap spaces as 0, a
// Node version that is Bun's, a heap size of gigabytes and an empty GC histogram, and its output
// fails `promtool check metrics`. These are read from process.* and /proc instead.
//
// The event-loop delay comes from perf_hooks.monitorEventLoopDelay (a timer every 10 ms whose
// lateness is recorded): as a summary whose quantiles cover the last complete window of
// WINDOW_MS, and whose _sum and _count cover every window since start. A DHCP exchange that
// waits behind a long synchronous piece of work shows here first.

import { readdirSync, readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { MetricsRegistry, Sample } from "./registry.ts";

const WINDOW_MS = 30_000;
const RESOLUTION_MS = 10;
const QUANTILES = [0.5, 0.9, 0.99, 1] as const;

export interface ProcessMetrics {
  /** Close the current window now (tests), as the timer does every WINDOW_MS. */
  rotate(): void;
  stop(): void;
}

export function registerProcessMetrics(reg: MetricsRegistry, opts: { version: string; windowMs?: number }): ProcessMetrics {
  reg.add({
    name: "socle_build_info",
    help: "The running Socle's version (always 1)",
    type: "gauge",
    labelNames: ["version"],
    read: () => [{ labels: { version: opts.version }, value: 1 }],
  });
  reg.add({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes",
    type: "gauge",
    read: () => [{ value: process.memoryUsage.rss() }],
  });
  reg.add({
    name: "process_cpu_seconds_total",
    help: "User and system CPU time spent, in seconds",
    type: "counter",
    read: () => {
      const u = process.cpuUsage();
      return [{ value: (u.user + u.system) / 1e6 }];
    },
  });
  // performance.timeOrigin is when this process started (Bun and Node both).
  const started = performance.timeOrigin / 1000;
  reg.add({
    name: "process_start_time_seconds",
    help: "Start time of the process since the Unix epoch, in seconds",
    type: "gauge",
    read: () => [{ value: Math.floor(started) }],
  });
  if (process.platform === "linux") {
    reg.add({
      name: "process_open_fds",
      help: "Open file descriptors",
      type: "gauge",
      read: () => {
        // readdir opens one descriptor of its own to read the directory: not counted.
        const n = countOrUndefined(() => readdirSync("/proc/self/fd").length - 1);
        return n === undefined ? [] : [{ value: n }];
      },
    });
    reg.add({
      name: "process_max_fds",
      help: "The soft limit on open file descriptors",
      type: "gauge",
      read: () => {
        const n = countOrUndefined(() => maxOpenFiles(readFileSync("/proc/self/limits", "utf8")));
        return n === undefined ? [] : [{ value: n }];
      },
    });
  }

  const monitor = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  monitor.enable();
  // No quantiles until the first window closes: zeros would read as a perfectly idle loop.
  let last: Sample[] = [];
  let sum = 0;
  let count = 0;
  const rotate = () => {
    const n = monitor.count;
    if (n > 0) {
      // Nanoseconds in the monitor; seconds out.
      last = QUANTILES.map((q) => ({ labels: { quantile: String(q) }, value: (q === 1 ? monitor.max : monitor.percentile(q * 100)) / 1e9 }));
      sum += (monitor.mean * n) / 1e9;
      count += n;
    }
    monitor.reset();
  };
  const timer = setInterval(rotate, opts.windowMs ?? WINDOW_MS);
  timer.unref?.();
  reg.add({
    name: "socle_event_loop_delay_seconds",
    help: `How late the event loop ran a ${RESOLUTION_MS} ms timer, in seconds; quantiles over the last ${Math.round((opts.windowMs ?? WINDOW_MS) / 1000)} s window`,
    type: "summary",
    read: () => [...last, { suffix: "_sum", value: sum }, { suffix: "_count", value: count }],
  });
  return {
    rotate,
    stop: () => {
      clearInterval(timer);
      monitor.disable();
    },
  };
}

/** The soft "Max open files" of /proc/self/limits; undefined when unlimited or not found. */
export function maxOpenFiles(limits: string): number | undefined {
  const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : undefined;
}

function countOrUndefined(fn: () => number | undefined): number | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
