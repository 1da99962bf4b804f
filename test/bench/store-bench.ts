// bun test/bench/store-bench.ts [--quick]
// bun test/bench/store-bench.ts --scale 1000,10000,100000 [--write-seconds 4] [--lock FILE] [--tmp DIR]
//
// Default: the file store with 10,000 machines + 100,000 leases: open time (from a snapshot and
// from a journal-only crash image), sustained durable writes with event-loop stall (1 ms timer
// drift) while a snapshot is written, GET-by-key and filtered-list latency (the model's query
// engine: parseQuery/runQuery), then kill -9 crash trials. Prints a table and a JSON line.
//
// --scale: how cost grows with the number of machines (leases 10x machines). Each size gets a data
// directory generated once (in a child process), then measured in a fresh child process (so no
// size inherits another's heap): open from the snapshot with the shipped read-only layer, the
// start-up indexes `serve` builds over the store (adapters/boot-data.ts, adapters/dhcp-backend.ts),
// RSS and JS heap after a full GC, durable write latency at a fixed 500 writes/s (steady, then
// while a snapshot of everything is written), and open from a journal-only crash image. Fits a
// line through the sizes and prints the cost per machine (with its 10 leases) and the size at
// which RSS reaches 250 MB and 4 GiB. With --lock, each measuring child runs under `flock FILE`
// (generation does not), so benches sharing a machine take turns.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ModelObject } from "../../src/model/object.ts";
import { modelFor } from "../../src/model/registry.ts";
import { parseQuery, runQuery } from "../../src/model/query.ts";
import { DEFAULT_COMPACT_ENTRIES, FileStore, openFileStore } from "../../src/store/file-store.ts";
import { runCrashTrials } from "../fixtures/store-crash-plan.ts";
import { fullGC, heapStats } from "bun:jsc";
import { nullLogger } from "../../src/log/logger.ts";
import { createStoreBootData } from "../../src/adapters/boot-data.ts";
import { createStoreDhcpBackend, leaseObject } from "../../src/adapters/dhcp-backend.ts";
import { SHIPPED_FILES } from "../../src/content/shipped.ts";
import { buildContentLayer } from "../../src/content/layer.ts";

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

async function standardBench(): Promise<void> {
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
}

// ---- --scale ------------------------------------------------------------------------------------

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const LEASES_PER_MACHINE = 10;
const SCALE_RATE = 500;
const MB = 1e6;
const GIB = 1 << 30;

/** Deterministic pseudo-random 32-bit value of (i, salt). */
function mix(i: number, salt: number): number {
  let h = Math.imul(i ^ salt, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  return (h ^ (h >>> 13)) >>> 0;
}

function macOf(prefix: string, i: number): string {
  return `${prefix}:${hex((i >> 16) & 255, 2)}:${hex((i >> 8) & 255, 2)}:${hex(i & 255, 2)}`;
}

/** Lease i's address: 10.16.0.0/12 holds 1M addresses. */
function scaleAddr(i: number): string {
  return `10.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`;
}

/**
 * Machine i as registration and a workflow leave it: two NICs, inventory in Params, profiles,
 * a finished job. Its address is that of lease i * 10 (the lease of its first MAC).
 */
function scaleMachine(i: number, rev = 0): ModelObject {
  const mac = macOf("52:54:00", i);
  const mac2 = macOf("52:54:01", i);
  const uuid = `${hex(mix(i, 1), 8)}-${hex(mix(i, 2) & 0xffff, 4)}-4${hex(mix(i, 3) & 0xfff, 3)}-8${hex(mix(i, 4) & 0xfff, 3)}-${hex(mix(i, 5), 8)}${hex(i & 0xffff, 4)}`;
  const installed = i % 4 !== 0;
  return {
    Uuid: uuid,
    Name: `d${mac.replace(/:/g, "")}`,
    Description: rev === 0 ? "" : `rev ${rev}`,
    Address: scaleAddr(i * LEASES_PER_MACHINE),
    HardwareAddrs: [mac, mac2],
    Arch: i % 5 === 0 ? "arm64" : "amd64",
    BootEnv: installed ? "local" : "discovery",
    Profiles: [`rack-${i % 40}`, "site-a"],
    Params: {
      inventory: {
        CPUs: 16 << (i % 3),
        MemoryBytes: (64 << (i % 3)) * GIB,
        Disks: [
          { Name: "nvme0n1", SizeBytes: 960_197_124_096 },
          { Name: "sda", SizeBytes: 4_000_787_030_016 },
        ],
        Nics: [
          { Name: "eno1", Mac: mac },
          { Name: "eno2", Mac: mac2 },
        ],
        SerialNumber: `SN${hex(mix(i, 6), 8).toUpperCase()}`,
        SystemUuid: `${hex(mix(i, 7), 8)}-${hex(mix(i, 8) & 0xffff, 4)}-${hex(mix(i, 9) & 0xffff, 4)}-${hex(mix(i, 10) & 0xffff, 4)}-${hex(mix(i, 11), 12)}`,
        Manufacturer: "Supermicro",
        ProductName: "SYS-1029P-WTR",
        Hostname: `node-${i}`,
        RegisteredAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      },
      "kernel-console": "ttyS0,115200",
    },
    Workflow: installed ? "ubuntu-install" : "",
    Stage: installed ? "complete" : "",
    Tasks: installed ? ["stage:discover", "bootenv:ubuntu-24.04-install", "stage:complete"] : [],
    CurrentTask: installed ? 2 : -1,
    CurrentJob: installed ? `${hex(mix(i, 12), 8)}-0000-4000-8000-${hex(mix(i, 13), 12)}` : "",
    Runnable: true,
    PendingBootEnv: "",
    WorkflowComplete: installed,
    Context: "",
    Secret: Buffer.from(hex(mix(i, 14), 8) + hex(mix(i, 15), 8) + hex(mix(i, 16), 8), "hex").toString("base64url"),
    Validated: true,
    Available: true,
    Errors: [],
    ReadOnly: false,
    Meta: {},
  };
}

/** Lease i as the DHCP adapter stores it; every tenth belongs to a machine's first MAC, the rest to other devices. */
function scaleLease(i: number, gen = 0): ModelObject {
  const own = i % LEASES_PER_MACHINE === 0;
  const rec: Parameters<typeof leaseObject>[0] = {
    Addr: scaleAddr(i),
    Token: own ? macOf("52:54:00", i / LEASES_PER_MACHINE) : macOf("02:00:00", i),
    Strategy: "MAC",
    State: "ACK",
    ExpireTime: new Date(Date.UTC(2026, 0, 1) + 3_600_000 + gen * 1000).toISOString(),
    Via: i % 2 === 0 ? "198.51.100.1" : "",
    Hostname: own ? `node-${i / LEASES_PER_MACHINE}` : "",
  };
  return leaseObject(rec);
}

/** Child: write `machines` machines and 10x leases to <dir>/data, keep a journal-only copy in <dir>/crash. */
async function scaleGenerate(machines: number, dir: string): Promise<void> {
  const t = performance.now();
  const data = path.join(dir, "data");
  const store = await openFileStore({ dir: data, compactEntries: Number.MAX_SAFE_INTEGER, compactBytes: Number.MAX_SAFE_INTEGER });
  const CHUNK = 2000;
  const put = async (n: number, write: (i: number) => Promise<unknown>) => {
    for (let i = 0; i < n; i += CHUNK) await Promise.all(Array.from({ length: Math.min(CHUNK, n - i) }, (_, k) => write(i + k)));
  };
  await put(machines, (i) => {
    const m = scaleMachine(i);
    return store.put("machines", m.Uuid as string, m);
  });
  await put(machines * LEASES_PER_MACHINE, (i) => store.put("leases", scaleAddr(i), scaleLease(i)));
  fs.cpSync(path.join(data, "store"), path.join(dir, "crash", "store"), { recursive: true });
  await store.close(); // writes the snapshot
  const sizeOf = (d: string) => fs.readdirSync(d).reduce((sum, f) => sum + fs.statSync(path.join(d, f)).size, 0);
  console.log(`SCALE-GENERATED ${JSON.stringify({ ms: Math.round(performance.now() - t), snapshotBytes: sizeOf(path.join(data, "store")), journalBytes: sizeOf(path.join(dir, "crash", "store")) })}`);
}

interface ScaleResult {
  machines: number;
  leases: number;
  snapshotMB: number;
  journalMB: number;
  baseRssMB: number;
  openSnapshotMs: number;
  indexMs: number;
  firstListMs: number;
  bootDataMs: number;
  dhcpBackendMs: number;
  openPeakRssMB: number;
  /** After open, before the adapters' indexes. */
  storeRssMB: number;
  storeHeapMB: number;
  rssMB: number;
  heapMB: number;
  writeP50Ms: number;
  writeP99Ms: number;
  writeMaxMs: number;
  writesPerSec: number;
  snapshotWriteMs: number;
  writeDuringSnapshotP99Ms: number;
  openJournalMs: number;
}

/** Durable writes paced at `rate`/s from 16 lanes until `until()`; lease renewals, one in ten a machine update. */
async function pacedWrites(store: FileStore, machines: number, rate: number, until: () => boolean, seed: number): Promise<{ lat: number[]; secs: number }> {
  const LANES16 = 16;
  const lat: number[] = [];
  const started = performance.now();
  const interval = (LANES16 * 1000) / rate;
  const leases = machines * LEASES_PER_MACHINE;
  await Promise.all(
    Array.from({ length: LANES16 }, async (_, lane) => {
      let next = started + (interval * lane) / LANES16;
      for (let i = 0; !until() && i < 1_000_000; i++) {
        const wait = next - performance.now();
        if (wait > 0) await Bun.sleep(wait);
        next += interval;
        const k = mix(lane * 1_000_003 + i, seed) % leases;
        const t = performance.now();
        if (i % 10 === 0) {
          const m = scaleMachine(k % machines, seed + i);
          await store.put("machines", m.Uuid as string, m);
        } else {
          await store.put("leases", scaleAddr(k), scaleLease(k, seed + i));
        }
        lat.push(performance.now() - t);
      }
    }),
  );
  return { lat: lat.sort((a, b) => a - b), secs: (performance.now() - started) / 1000 };
}

function memNow(): { rss: number; heap: number } {
  fullGC();
  return { rss: process.memoryUsage().rss, heap: heapStats().heapSize };
}

/** Child: measure one generated size (see the header). Prints one SCALE-RESULT line. */
async function scaleMeasure(machines: number, dir: string, writeSeconds: number, generated: { snapshotBytes: number; journalBytes: number }): Promise<void> {
  const layer = buildContentLayer(SHIPPED_FILES);
  const base = memNow();
  const t0 = performance.now();
  const store = new FileStore({ dir: path.join(dir, "data"), layer });
  await store.open();
  const openSnapshotMs = performance.now() - t0;
  const openPeakRss = process.resourceUsage().maxRSS * 1024;
  const storeMem = memNow();
  // What serve builds over the store before it answers (main.ts: startSocle), each part timed:
  // the store's share (the first list of each type the adapters read: machines and leases they
  // scan, see adapters/mac-index.ts), then each adapter.
  const t1 = performance.now();
  for (const type of ["reservations"]) store.list(type);
  const t2 = performance.now();
  const bootData = createStoreBootData(store, nullLogger);
  const t3 = performance.now();
  const backend = createStoreDhcpBackend(store, nullLogger);
  const t4 = performance.now();
  const [firstListMs, bootDataMs, dhcpBackendMs] = [t2 - t1, t3 - t2, t4 - t3];
  const indexMs = t4 - t1;
  // The store's background freezing of the loaded objects (started FREEZE_DELAY_MS after open in
  // a server): its cost is part of what the store holds once settled.
  await store.freezeLoaded();
  const mem = memNow();
  if (store.count("leases") !== machines * LEASES_PER_MACHINE || store.count("machines") < machines) {
    throw new Error(`store holds ${store.count("machines")} machines, ${store.count("leases")} leases; expected ${machines}, ${machines * LEASES_PER_MACHINE}`);
  }

  const endAt = performance.now() + writeSeconds * 1000;
  const steady = await pacedWrites(store, machines, SCALE_RATE, () => performance.now() >= endAt, 1);
  // Steady state includes compaction: a snapshot of everything, written while writes go on.
  let snapshotDone = false;
  const ts = performance.now();
  const snap = store.compact().finally(() => {
    snapshotDone = true;
  });
  const during = await pacedWrites(store, machines, SCALE_RATE, () => snapshotDone || performance.now() - ts > 60_000, 2);
  await snap;
  const snapshotWriteMs = performance.now() - ts;
  bootData.close();
  backend.close();
  await store.close();

  // A journal-only crash image: every object replayed from journal lines. Not closed: closing
  // would write a snapshot of it, which nothing here measures; the process exits next.
  const tj = performance.now();
  const crashed = new FileStore({ dir: path.join(dir, "crash"), layer });
  await crashed.open();
  const openJournalMs = performance.now() - tj;

  const r: ScaleResult = {
    machines,
    leases: machines * LEASES_PER_MACHINE,
    snapshotMB: generated.snapshotBytes / MB,
    journalMB: generated.journalBytes / MB,
    baseRssMB: base.rss / MB,
    openSnapshotMs,
    indexMs,
    firstListMs,
    bootDataMs,
    dhcpBackendMs,
    openPeakRssMB: openPeakRss / MB,
    storeRssMB: storeMem.rss / MB,
    storeHeapMB: storeMem.heap / MB,
    rssMB: mem.rss / MB,
    heapMB: mem.heap / MB,
    writeP50Ms: pct(steady.lat, 50),
    writeP99Ms: pct(steady.lat, 99),
    writeMaxMs: steady.lat.at(-1) ?? 0,
    writesPerSec: steady.lat.length / steady.secs,
    snapshotWriteMs,
    writeDuringSnapshotP99Ms: pct(during.lat, 99),
    openJournalMs,
  };
  console.log(`SCALE-RESULT ${JSON.stringify(r)}`);
  process.exit(0);
}

/** Least squares y = a + b x. */
function fitLine(xs: number[], ys: number[]): { a: number; b: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    sxx += ((xs[i] as number) - mx) ** 2;
  }
  const b = sxx === 0 ? 0 : sxy / sxx;
  return { a: my - b * mx, b };
}

/** The child step running now, stopped if the bench is interrupted. */
let running: ReturnType<typeof Bun.spawn> | null = null;

/** Run a child bench step; its last `TAG {json}` line, or an error with its output. */
async function child(args: string[], tag: string, timeoutMs: number, lock?: string): Promise<Record<string, unknown>> {
  // The child enforces its own limit (--limit-ms), so time spent waiting for the lock is not counted.
  const self = [process.execPath, import.meta.path, ...args, "--limit-ms", String(timeoutMs)];
  // --no-fork: the child is the process flock became, so stopping it stops the bench step.
  const cmd = lock ? ["flock", "--no-fork", lock, ...self] : self;
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  running = proc;
  // Past the limit, plus an hour for the lock, the child is stuck: stop it.
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs + (lock ? 3_600_000 : 10_000));
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  running = null;
  const line = out.split("\n").findLast((l) => l.startsWith(`${tag} `));
  if (code !== 0 || !line) throw new Error(`${args.join(" ")}: exit ${code}${proc.signalCode ? ` (${proc.signalCode}, limit ${timeoutMs / 1000} s)` : ""}\n${out}${err}`);
  return JSON.parse(line.slice(tag.length + 1)) as Record<string, unknown>;
}

function uptime(): string {
  return fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

async function scaleBench(sizes: number[], writeSeconds: number, lock: string | undefined, tmp: string): Promise<void> {
  const root = fs.mkdtempSync(path.join(tmp, "socle-scale-"));
  const cleanup = () => {
    running?.kill("SIGKILL");
    fs.rmSync(root, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  process.on("SIGTERM", () => {
    cleanup();
    process.exit(143);
  });
  const results: ScaleResult[] = [];
  try {
    console.log(`store scale: ${sizes.join(", ")} machines (+${LEASES_PER_MACHINE}x leases), Bun ${Bun.version}, ${os.cpus().length} CPUs, ${root}, load ${uptime()}`);
    // Every size generated first, outside the lock, so the measuring runs follow each other.
    const generated = new Map<number, Record<string, unknown>>();
    for (const n of sizes) {
      const gen = await child(["--scale-generate", String(n), "--dir", path.join(root, String(n))], "SCALE-GENERATED", 900_000);
      console.log(`  ${n}: generated in ${((gen.ms as number) / 1000).toFixed(1)} s`);
      generated.set(n, gen);
    }
    for (const n of sizes) {
      const dir = path.join(root, String(n));
      const gen = generated.get(n);
      console.log(`  ${n}: measuring${lock ? ` (under flock ${lock})` : ""}, load ${uptime()}`);
      const r = (await child(
        ["--scale-measure", String(n), "--dir", dir, "--write-seconds", String(writeSeconds), "--generated", JSON.stringify(gen)],
        "SCALE-RESULT",
        300_000,
        lock,
      )) as unknown as ScaleResult;
      results.push(r);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    cleanup();
  }
  const head = ["machines", "leases", "snap MB", "open snap ms", "index ms (list+boot+dhcp)", "open jrnl ms", "base RSS MB", "peak RSS MB", "store RSS/heap MB", "RSS MB", "heap MB", "write p50/p99/max ms", "snapshot ms", "p99 during snap"];
  const rows = results.map((r) => [
    String(r.machines),
    String(r.leases),
    r.snapshotMB.toFixed(0),
    r.openSnapshotMs.toFixed(0),
    `${r.indexMs.toFixed(0)} (${r.firstListMs.toFixed(0)}+${r.bootDataMs.toFixed(0)}+${r.dhcpBackendMs.toFixed(0)})`,
    r.openJournalMs.toFixed(0),
    r.baseRssMB.toFixed(0),
    r.openPeakRssMB.toFixed(0),
    `${r.storeRssMB.toFixed(0)}/${r.storeHeapMB.toFixed(0)}`,
    r.rssMB.toFixed(0),
    r.heapMB.toFixed(0),
    `${f2(r.writeP50Ms)}/${f2(r.writeP99Ms)}/${f2(r.writeMaxMs)}`,
    r.snapshotWriteMs.toFixed(0),
    f2(r.writeDuringSnapshotP99Ms),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  for (const line of [head, ...rows]) console.log(line.map((c, i) => c.padStart(widths[i] as number)).join("  "));

  const xs = results.map((r) => r.machines);
  const fit = (key: keyof ScaleResult) => fitLine(xs, results.map((r) => r[key] as number));
  const rss = fit("rssMB");
  const peak = fit("openPeakRssMB");
  const heap = fit("heapMB");
  const storeRss = fit("storeRssMB");
  const open = fit("openSnapshotMs");
  const ready = fitLine(xs, results.map((r) => r.openSnapshotMs + r.indexMs));
  const journal = fit("openJournalMs");
  // null: fewer than two sizes, or no growth to extrapolate.
  const at = (line: { a: number; b: number }, limit: number) => (xs.length > 1 && line.b > 0 ? Math.floor((limit - line.a) / line.b) : null);
  // Linear means the cost per machine between consecutive sizes stays the same.
  const marginal = results.slice(1).map((r, i) => {
    const p = results[i] as ScaleResult;
    return { from: p.machines, to: r.machines, rssKB: ((r.rssMB - p.rssMB) * 1000) / (r.machines - p.machines), openUs: ((r.openSnapshotMs - p.openSnapshotMs) * 1000) / (r.machines - p.machines) };
  });
  const big = results.find((r) => r.machines === 100_000);
  const tenK = results.find((r) => r.machines === 10_000);
  console.log(`per machine (+${LEASES_PER_MACHINE} leases), least squares over ${xs.length} sizes:`);
  console.log(`  RSS ${(rss.b * 1000).toFixed(2)} KB (intercept ${rss.a.toFixed(0)} MB), peak RSS at open ${(peak.b * 1000).toFixed(2)} KB, JS heap ${(heap.b * 1000).toFixed(2)} KB`);
  console.log(`  of which the store alone (after open, before the adapters' indexes): RSS ${(storeRss.b * 1000).toFixed(2)} KB`);
  console.log(`  open from snapshot ${(open.b * 1000).toFixed(1)} µs, + indexes ${(ready.b * 1000).toFixed(1)} µs, from journal ${(journal.b * 1000).toFixed(1)} µs`);
  for (const m of marginal) console.log(`  ${m.from} -> ${m.to}: RSS ${m.rssKB.toFixed(2)} KB/machine, open ${m.openUs.toFixed(1)} µs/machine`);
  const limits = {
    machinesAt250MB: at(rss, 250),
    machinesAt4GiB: at(rss, (4 * GIB) / MB),
    machinesAt4GiBPeak: at(peak, (4 * GIB) / MB),
    machinesOpenIn5s: at(ready, 5000),
  };
  console.log(`  RSS reaches 250 MB at ${limits.machinesAt250MB} machines; 4 GiB at ${limits.machinesAt4GiB} (peak during open: ${limits.machinesAt4GiBPeak}); open + indexes reach 5 s at ${limits.machinesOpenIn5s}`);
  const verdict = [
    ["100k machines open (snapshot + indexes) in <= 5 s", big ? big.openSnapshotMs + big.indexMs <= 5000 : null],
    ["RSS <= 250 MB at 10k machines + 100k leases", tenK ? tenK.rssMB <= 250 : null],
  ] as const;
  for (const [what, ok] of verdict) row(`target: ${what}`, ok === null ? "not measured" : ok ? "met" : "MISSED");
  console.log(`load ${uptime()}`);
  console.log(JSON.stringify({ sizes: results, slope: { rssKB: rss.b * 1000, rssInterceptMB: rss.a, storeRssKB: storeRss.b * 1000, peakRssKB: peak.b * 1000, heapKB: heap.b * 1000, openUs: open.b * 1000, readyUs: ready.b * 1000, journalUs: journal.b * 1000 }, marginal, limits }));
  if (verdict.some(([, ok]) => ok === false)) process.exitCode = 1;
}

const limitMs = argValue("--limit-ms");
if (limitMs !== undefined) {
  setTimeout(() => {
    console.error(`store-bench: stopped after the ${Number(limitMs) / 1000} s limit`);
    process.exit(124);
  }, Number(limitMs)).unref();
}
const scaleGen = argValue("--scale-generate");
const scaleOne = argValue("--scale-measure");
const scaleSizes = argValue("--scale");
if (scaleGen !== undefined) {
  await scaleGenerate(Number(scaleGen), argValue("--dir") as string);
} else if (scaleOne !== undefined) {
  await scaleMeasure(Number(scaleOne), argValue("--dir") as string, Number(argValue("--write-seconds") ?? 4), JSON.parse(argValue("--generated") ?? "{}"));
} else if (scaleSizes !== undefined) {
  const sizes = scaleSizes.split(",").map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1 || n > 100_000)) throw new Error(`--scale ${scaleSizes}: expected machine counts from 1 to 100000 (the addresses of 10.16.0.0/12), comma separated`);
  await scaleBench(sizes, Number(argValue("--write-seconds") ?? 4), argValue("--lock"), argValue("--tmp") ?? os.tmpdir());
} else {
  await standardBench();
}
