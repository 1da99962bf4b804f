// An opt-in look inside a running server's memory, for whoever chases its RSS: with
// SOCLE_DEBUG_MEMORY_DIR set, SIGUSR2 collects garbage fully and writes what the engine and the
// kernel say about the process to timestamped files in that directory. Nothing is served over the
// network and nothing happens without the variable.
//
// What each figure is: JSC's heapStats() counts the JavaScript heap (heapSize = what survived the
// collection just run, heapCapacity = what the heap holds from the OS for it); bun:jsc's
// memoryUsage() adds mimalloc's commit (strings, buffers and native objects outside the JS heap);
// /proc/self/smaps_rollup splits RSS into file-backed pages (the touched part of the bun binary)
// and anonymous ones (heaps, stacks). A heap snapshot (SOCLE_DEBUG_MEMORY_SNAPSHOT=1) opens in
// Chrome DevTools; it is large and taking it allocates, so it is off by default.

import { fullGC, heapStats, memoryUsage } from "bun:jsc";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const MEMORY_DIR_ENV = "SOCLE_DEBUG_MEMORY_DIR";
export const MEMORY_SNAPSHOT_ENV = "SOCLE_DEBUG_MEMORY_SNAPSHOT";

export interface MemoryReport {
  time: string;
  pid: number;
  /** JSC heap after fullGC(), objectTypeCounts included. */
  heap: ReturnType<typeof heapStats>;
  /** bun:jsc memoryUsage(): RSS now and at peak, mimalloc commit now and at peak. */
  process: ReturnType<typeof memoryUsage>;
  /** /proc/self/smaps_rollup fields in KiB (Rss, Pss, Anonymous, Private_Dirty, ...); {} off Linux. */
  smapsKb: Record<string, number>;
}

/** The "Name:  1234 kB" lines of smaps_rollup as { Name: 1234 }. */
export function parseSmapsRollup(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

function readSmapsRollup(): string {
  try {
    return readFileSync("/proc/self/smaps_rollup", "utf8");
  } catch {
    return "";
  }
}

/** Collect garbage fully and measure, without writing anything. */
export function measureMemory(now: Date = new Date()): MemoryReport & { smapsText: string } {
  fullGC();
  const heap = heapStats();
  const smapsText = readSmapsRollup();
  return { time: now.toISOString(), pid: process.pid, heap, process: memoryUsage(), smapsKb: parseSmapsRollup(smapsText), smapsText };
}

/**
 * Measure and write `memory-<time>-<pid>.json` (the report), `.smaps_rollup` (the kernel's text
 * as read) and, with `snapshot`, `.heapsnapshot` (v8 format) into `dir`. Returns the paths.
 */
export function writeMemoryDump(dir: string, snapshot: boolean, now: Date = new Date()): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { smapsText, ...report } = measureMemory(now);
  const base = join(dir, `memory-${report.time.replace(/[:.]/g, "-")}-${process.pid}`);
  const files = [`${base}.json`, `${base}.smaps_rollup`];
  writeFileSync(files[0]!, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
  writeFileSync(files[1]!, smapsText, { mode: 0o600 });
  if (snapshot) {
    const snap = Bun.generateHeapSnapshot("v8", "arraybuffer");
    files.push(`${base}.heapsnapshot`);
    writeFileSync(files[2]!, new Uint8Array(snap), { mode: 0o600 });
  }
  return files;
}

/**
 * With SOCLE_DEBUG_MEMORY_DIR in `env`, write a dump on every SIGUSR2 and report each outcome
 * to `done` (the paths, or why it failed). Returns the function that removes the handler, or
 * undefined when the variable is not set (then SIGUSR2 keeps its default action).
 */
export function installMemoryDump(
  env: Record<string, string | undefined>,
  done: (result: { files: string[] } | { error: Error }) => void,
): (() => void) | undefined {
  const dir = env[MEMORY_DIR_ENV];
  if (!dir) return undefined;
  const snapshot = env[MEMORY_SNAPSHOT_ENV] === "1";
  const onSignal = () => {
    try {
      done({ files: writeMemoryDump(dir, snapshot) });
    } catch (err) {
      done({ error: err instanceof Error ? err : new Error(String(err)) });
    }
  };
  process.on("SIGUSR2", onSignal);
  return () => process.off("SIGUSR2", onSignal);
}
