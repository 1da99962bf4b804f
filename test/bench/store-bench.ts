// bun test/bench/store-bench.ts [--quick]
//
// Measures the file store with 10,000 machines + 100,000 leases: open time (from a snapshot and
// from a journal-only crash image), sustained durable writes with event-loop stall (1 ms timer
// drift) while a snapshot is written, GET-by-key and filtered-list latency (the model's query
// engine: parseQuery/runQuery), then kill -9 crash trials. Prints a table and a JSON line.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ModelObject } from "../../src/model/object.ts";
import { modelFor } from "../../src/model/registry.ts";
import { parseQuery, runQuery } from "../../src/model/query.ts";
import { DEFAULT_COMPACT_ENTRIES, FileStore, openFileStore } from "../../src/store/file-store.ts";
import { runCrashTrials } from "../fixtures/store-crash-plan.ts";

const QUICK = process.argv.includes("--quick");
const MACHINES = 10_000;
const LEASES = 100_000;
const WRITE_SECONDS = QUICK ? 2 : 5;
const LANES = 32;
const CRASH_TRIALS = QUICK ? 10 : Number(process.env.STORE_CRASH_TRIALS ?? 50);

const results: Record<string, number | string> = {};
const row = (name: string, value: string) => console.log(`${name.padEnd(52)} ${value}`);

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
const f2 = (n: number) => n.toFixed(2);

function hex(n: number, width: number) {
  return n.toString(16).padStart(width, "0");
}

function machine(i: number): ModelObject {
  const mac = `52:54:00:${hex((i >> 16) & 255, 2)}:${hex((i >> 8) & 255, 2)}:${hex(i & 255, 2)}`;
  return {
    Uuid: `${hex(i, 8)}-0000-4000-8000-${hex(i, 12)}`,
    Name: `node-${String(i).padStart(5, "0")}`,
    Description: "",
    Address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    HardwareAddrs: [mac],
    Arch: i % 5 === 0 ? "arm64" : "amd64",
    BootEnv: i % 3 === 0 ? "local" : "discovery",
    Profiles: ["rack-a"],
    Params: { "kernel-console": "ttyS0,115200" },
    Runnable: true,
    Secret: hex(i * 2654435761, 16),
    Validated: true,
    Available: true,
    Errors: [],
    ReadOnly: false,
    Meta: {},
  };
}

function lease(i: number, gen = 0): ModelObject {
  return {
    Addr: `10.${100 + ((i >> 16) & 255)}.${(i >> 8) & 255}.${i & 255}`,
    Token: `52:54:01:${hex((i >> 16) & 255, 2)}:${hex((i >> 8) & 255, 2)}:${hex(i & 255, 2)}`,
    State: "ACK",
    Strategy: "MAC",
    ExpireTime: new Date(Date.UTC(2026, 0, 1) + gen * 1000).toISOString(),
    Via: "198.51.100.1",
    Validated: true,
    Available: true,
    Errors: [],
    ReadOnly: false,
    Meta: {},
  };
}

async function timeOpen(dir: string): Promise<{ ms: number; store: FileStore }> {
  const t = performance.now();
  const store = await openFileStore({ dir });
  return { ms: performance.now() - t, store };
}

/** 1 ms interval; each tick's lateness is a stall of the event loop. */
function stallMonitor() {
  const stalls: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    stalls.push(Math.max(0, now - last - 1));
    last = now;
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      return stalls.sort((a, b) => a - b);
    },
  };
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), "socle-bench-"));
try {
  console.log(`store bench: ${MACHINES} machines + ${LEASES} leases, Bun ${Bun.version}, ${os.cpus().length} CPUs, ${root}`);
  const dir = path.join(root, "data");

  // ---- populate ----
  {
    const store = await openFileStore({ dir, compactEntries: 10_000_000, compactBytes: 1 << 30 });
    const t = performance.now();
    const CHUNK = 2000;
    for (let i = 0; i < MACHINES; i += CHUNK) {
      await Promise.all(Array.from({ length: Math.min(CHUNK, MACHINES - i) }, (_, k) => store.put("machines", machine(i + k).Uuid as string, machine(i + k))));
    }
    for (let i = 0; i < LEASES; i += CHUNK) {
      await Promise.all(Array.from({ length: Math.min(CHUNK, LEASES - i) }, (_, k) => store.put("leases", lease(i + k).Addr as string, lease(i + k))));
    }
    const ms = performance.now() - t;
    results.populateWritesPerSec = Math.round((MACHINES + LEASES) / (ms / 1000));
    row("populate (2000 concurrent puts per round)", `${results.populateWritesPerSec} writes/s, ${store.stats().syncs} fdatasyncs`);
    // A crash image: every write durable, nothing compacted, as after kill -9.
    fs.cpSync(path.join(dir, "store"), path.join(root, "crash", "store"), { recursive: true });
    const tc = performance.now();
    await store.close(); // writes the snapshot
    results.closeWithSnapshotMs = Math.round(performance.now() - tc);
    const snapBytes = fs.statSync(path.join(dir, "store", "snapshot.json")).size;
    results.snapshotMB = Number((snapBytes / 1e6).toFixed(1));
    row("close (snapshot of 110k objects)", `${results.closeWithSnapshotMs} ms, ${results.snapshotMB} MB`);
  }

  // ---- open ----
  {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { ms, store } = await timeOpen(dir);
      times.push(ms);
      await store.close();
    }
    results.openFromSnapshotMs = Math.round(Math.max(...times));
    row("open from snapshot (worst of 3)", `${results.openFromSnapshotMs} ms`);
    const { ms, store } = await timeOpen(path.join(root, "crash"));
    results.openFromJournalMs = Math.round(ms);
    row("open from journal only (110k entries, crash image)", `${results.openFromJournalMs} ms`);
    await store.close();
    // Worst case with default settings: a crash just before compaction, so snapshot (110k) plus
    // a journal of DEFAULT_COMPACT_ENTRIES - 1 entries to replay.
    const w = await openFileStore({ dir, compactEntries: 10_000_000, compactBytes: 1 << 30 });
    const N = DEFAULT_COMPACT_ENTRIES - 1;
    for (let i = 0; i < N; i += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, N - i) }, (_, k) => w.put("leases", lease(i + k).Addr as string, lease(i + k, 1))));
    }
    fs.cpSync(path.join(dir, "store"), path.join(root, "crash2", "store"), { recursive: true });
    await w.close();
    const worst = await timeOpen(path.join(root, "crash2"));
    results.openWorstCaseMs = Math.round(worst.ms);
    row(`open after crash: snapshot + ${N} journal entries`, `${results.openWorstCaseMs} ms`);
    await worst.store.close();
  }

  const store = await openFileStore({ dir });

  // ---- sequential durable writes ----
  {
    const lat: number[] = [];
    const end = performance.now() + 1500;
    for (let i = 0; performance.now() < end && i < 1_000_000; i++) {
      const t = performance.now();
      await store.put("leases", lease(i % LEASES).Addr as string, lease(i % LEASES, i));
      lat.push(performance.now() - t);
    }
    lat.sort((a, b) => a - b);
    results.sequentialWritesPerSec = Math.round(lat.length / 1.5);
    results.sequentialWriteP99Ms = Number(f2(pct(lat, 99)));
    row("durable writes, 1 writer (write+fdatasync each)", `${results.sequentialWritesPerSec} /s, p50 ${f2(pct(lat, 50))} ms, p99 ${f2(pct(lat, 99))} ms`);
  }

  // ---- sustained durable writes, paced and flat out, each with a snapshot in the middle ----
  const writePhase = async (label: string, rate: number | null) => {
    const lat: number[] = [];
    const syncs0 = store.stats().syncs;
    const monitor = stallMonitor();
    const started = performance.now();
    const end = started + WRITE_SECONDS * 1000;
    let snapshotMs = -1;
    const snap = (async () => {
      await Bun.sleep((WRITE_SECONDS * 1000) / 3);
      const s = await store.compact();
      snapshotMs = s?.ms ?? -1;
    })();
    let n = 0;
    // Paced: each lane issues its writes on a fixed schedule (rate / LANES per second), as
    // DHCP and API traffic would; flat out: each lane writes again as soon as the last resolved.
    const interval = rate === null ? 0 : (LANES * 1000) / rate;
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        let next = started + (interval * lane) / LANES;
        for (let i = 0; performance.now() < end && i < 10_000_000; i++) {
          if (interval > 0) {
            const wait = next - performance.now();
            if (wait > 0) await Bun.sleep(wait);
            next += interval;
          }
          const k = (lane * 7919 + i * 104729) % LEASES;
          const t = performance.now();
          if (i % 10 === 0) {
            const m = k % MACHINES;
            await store.put("machines", machine(m).Uuid as string, { ...machine(m), Description: `rev ${i}` });
          } else {
            await store.put("leases", lease(k).Addr as string, lease(k, i));
          }
          lat.push(performance.now() - t);
          n++;
        }
      }),
    );
    const secs = (performance.now() - started) / 1000;
    const stalls = monitor.stop();
    await snap;
    lat.sort((a, b) => a - b);
    const r = {
      writesPerSec: Math.round(n / secs),
      perSync: Math.round(n / Math.max(1, store.stats().syncs - syncs0)),
      writeP50Ms: Number(f2(pct(lat, 50))),
      writeP99Ms: Number(f2(pct(lat, 99))),
      stallP50Ms: Number(f2(pct(stalls, 50))),
      stallP99Ms: Number(f2(pct(stalls, 99))),
      stallMaxMs: Number(f2(stalls.at(-1) ?? 0)),
      snapshotMs: Math.round(snapshotMs),
    };
    row(`durable writes, ${label}, ${WRITE_SECONDS} s`, `${r.writesPerSec} /s (${r.perSync} writes per fdatasync)`);
    row("  write latency (call to durable)", `p50 ${r.writeP50Ms} ms, p99 ${r.writeP99Ms} ms`);
    row("  event-loop stall (1 ms timer drift)", `p50 ${r.stallP50Ms} ms, p99 ${r.stallP99Ms} ms, max ${r.stallMaxMs} ms (${stalls.length} ticks)`);
    row("  snapshot of 110k objects written meanwhile", `${r.snapshotMs} ms`);
    return r;
  };
  const paced = await writePhase(`paced at 2000/s, ${LANES} writers`, 2000);
  results.pacedWritesPerSec = paced.writesPerSec;
  results.pacedWriteP99Ms = paced.writeP99Ms;
  results.pacedStallP99Ms = paced.stallP99Ms;
  results.pacedStallMaxMs = paced.stallMaxMs;
  results.snapshotDuringWritesMs = paced.snapshotMs;
  const flat = await writePhase(`flat out, ${LANES} writers`, null);
  results.maxWritesPerSec = flat.writesPerSec;
  results.flatOutWriteP99Ms = flat.writeP99Ms;
  results.flatOutStallP99Ms = flat.stallP99Ms;

  // ---- reads ----
  {
    // Keys as an API request would have them: strings freshly parsed from text.
    const keys = Array.from({ length: 200_000 }, (_, i) => JSON.parse(JSON.stringify(lease((i * 7919) % LEASES).Addr)) as string);
    let found = 0;
    const t = performance.now();
    for (const k of keys) if (store.get("leases", k)) found++;
    const ns = ((performance.now() - t) * 1e6) / keys.length;
    if (found !== keys.length) throw new Error(`GET found ${found} of ${keys.length}`);
    results.getNs = Math.round(ns);
    row("GET by key (leases, 200k lookups, random order)", `${results.getNs} ns/op`);

    const def = modelFor("machines");
    if (!def) throw new Error("no machines model");
    const q = parseQuery(def, new URLSearchParams("Name=Re(^node-0[0-4]..7$)"));
    const times: number[] = [];
    let total = 0;
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      total = runQuery(store.list("machines"), q).total;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    results.filteredListMs = Number(f2(pct(times, 50)));
    results.filteredListP99Ms = Number(f2(pct(times, 99)));
    row("list machines + Name=Re(...) filter (query.ts)", `p50 ${results.filteredListMs} ms, max ${f2(times.at(-1) ?? 0)} ms, ${total} of ${store.count("machines")} match`);
    await store.put("machines", machine(1).Uuid as string, { ...machine(1), Description: "changed" });
    const t1 = performance.now();
    runQuery(store.list("machines"), q);
    results.filteredListAfterWriteMs = Number(f2(performance.now() - t1));
    row("  same, right after a write to machines", `${results.filteredListAfterWriteMs} ms`);
    const tl = performance.now();
    store.list("leases");
    results.firstListLeasesMs = Number(f2(performance.now() - tl));
    await store.put("leases", lease(5).Addr as string, lease(5, 99));
    await store.put("leases", "198.19.255.255", lease(5, 99));
    const tl2 = performance.now();
    store.list("leases");
    results.listLeasesMs = Number(f2(performance.now() - tl2));
    row("list leases (100k): first after open (sort + freeze)", `${results.firstListLeasesMs} ms`);
    row("  later, after an update and an insert", `${results.listLeasesMs} ms`);
  }
  await store.close();

  // ---- crash trials ----
  {
    const r = await runCrashTrials(CRASH_TRIALS);
    results.crashTrials = r.trials;
    results.crashAcked = r.acked;
    row(`kill -9 trials`, `${r.trials} passed, ${r.acked} acknowledged writes checked, ${r.inflightDurable} with an unacknowledged write found durable, ${r.tornTailWarnings} torn tails repaired, ${Math.round(r.ms)} ms`);
  }

  const verdict = [
    ["open <= 1000 ms", Math.max(Number(results.openFromSnapshotMs), Number(results.openWorstCaseMs)) <= 1000],
    [">= 1000 durable writes/s sustained", Number(results.pacedWritesPerSec) >= 1000],
    ["stall p99 <= 5 ms at that rate", Number(results.pacedStallP99Ms) <= 5],
  ] as const;
  for (const [what, ok] of verdict) row(`target: ${what}`, ok ? "met" : "MISSED");
  console.log(JSON.stringify(results));
  if (verdict.some(([, ok]) => !ok)) process.exitCode = 1;
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
