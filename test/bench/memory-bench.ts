// bun test/bench/memory-bench.ts [--only bare,worker,kea,dnsmasq,socle,socle-compiled,socle-no-timeline,socle-smol,leases]
//                                [--rate N] [--rate-seconds S] [--idle S] [--rest S] [--leases N]
//                                [--socle-env "BUN_JSC_x=1 MIMALLOC_y=0"]
//
// Where a DHCP server's memory goes, one row per process, all measured in this run:
//   - bare Bun (an idle `bun -e` script), and Bun plus one idle Worker (what a Worker VM costs);
//   - Kea and dnsmasq, the references (RSS only);
//   - `socle serve` as the DHCP bench starts it (dhcp-targets.ts), also as the compiled executable
//     (socle-compiled: build/compile.ts, what an operator runs), with `--timeline-macs 0`,
//     and under `bun --smol` (through BUN_OPTIONS); with --socle-env, once more with those
//     variables set (an A/B of a runtime or allocator knob, row "socle+env").
// Each server runs in a namespace of its own, pinned to CPU 0, and is measured idle (Socle --idle
// seconds, 22, after it answers; the others 2 s) and then at rest after 200 DHCP clients:
// perfdhcp's readiness probe, the avalanche of the 200 new clients, then a fixed 1,000
// exchanges/s for 10 s (renewals of those 200), then --rest seconds without traffic (30; 5 for Kea
// and dnsmasq, whose RSS does not move). Socle's RSS 5 s after the load is printed too: its heap
// gives pages back only once its own collection timers have run, tens of seconds later. perfdhcp
// acts as a relay from a second namespace over a veth
// pair (as in dhcp-bench.ts, whose topology and targets this reuses).
//
// For Socle and the Bun rows the process writes a memory dump (src/sys/memory-dump.ts: SIGUSR2
// with SOCLE_DEBUG_MEMORY_DIR set): heapSize after a full GC, heapCapacity, mimalloc's commit,
// RSS after that GC, and objectTypeCounts, whose largest changes between rows are printed.
// RSS and smaps Anonymous are also read from /proc before the signal: what an operator sees, and
// RSS again 5 s after the dump (whether the collected pages go back to the kernel).
//
// "leases" runs two store-only children (no network): bytes per lease of an opened store with N
// leases (the store's maps, then the adapters' MAC indexes), and what a store keeps after 200
// leases are renewed 100 times each (the change history holds superseded lease objects).
// Stops by itself (a few minutes); removes its namespaces and kills what it started (by PID).

import { estimateShallowMemoryUsageOf, fullGC, heapStats } from "bun:jsc";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { NetLab, needsRoot } from "../helpers/netns.ts";
import { BUN, dnsmasq, kea, memoryOf, ROOT, socle, socleCompiled, socleNoTimeline, type RunningServer, type Segment, type Target, SERVER_ADDR, CLIENT_ADDR, SUBNET, POOL, SERVER_CPU, CLIENT_CPU } from "./dhcp-targets.ts";
import { populateLeases } from "./lease-memory.ts";
import { parsePerfdhcp } from "./perfdhcp-report.ts";
import { PerfdhcpRunner } from "./perfdhcp-runner.ts";
import { MEMORY_DIR_ENV, parseSmapsRollup, type MemoryReport } from "../../src/sys/memory-dump.ts";
import { openFileStore } from "../../src/store/file-store.ts";
import { createStoreDhcpBackend, leaseObject } from "../../src/adapters/dhcp-backend.ts";
import { createStoreBootData } from "../../src/adapters/boot-data.ts";
import { nullLogger } from "../../src/log/logger.ts";
import type { LeaseRecord } from "../../src/dhcp/leases/backend.ts";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const ALL = ["bare", "worker", "kea", "dnsmasq", "socle", "socle-compiled", "socle-no-timeline", "socle-smol", "leases"];
const ONLY = (flag("--only") ?? ALL.join(",")).split(",").map((s) => s.trim());
const RATE = Number(flag("--rate") ?? 1_000);
const RATE_SECONDS = Number(flag("--rate-seconds") ?? 10);
const SOCLE_ENV: Record<string, string> = Object.fromEntries(
  (flag("--socle-env") ?? "")
    .split(/\s+/)
    .filter(Boolean)
    .map((kv) => {
      const i = kv.indexOf("=");
      if (i <= 0) throw new Error(`--socle-env: "${kv}" is not NAME=VALUE`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
);
/** Wait after Socle answers before its idle row: start-up garbage is collected and given back by then. */
const IDLE_SECONDS = Number(flag("--idle") ?? 22);
/** Rest after the load before the "after" row. */
const REST_SECONDS = Number(flag("--rest") ?? 30);
const LEASES = Number(flag("--leases") ?? 20_000);
const CLIENTS = 200;
const TOP_TYPES = 15;


const say = (s: string) => console.log(s);
const mb = (bytes: number | undefined) => (bytes === undefined || Number.isNaN(bytes) ? "-" : (bytes / 1048576).toFixed(1));
const loadText = () => loadavg().map((l) => l.toFixed(2)).join(" ");

/** One measured row. Bytes throughout; undefined where a process cannot tell (Kea, dnsmasq). */
interface Row {
  name: string;
  rss?: number;
  anon?: number;
  peakRss?: number;
  rssAfterGc?: number;
  /** RSS 5 s after the dump's full GC. */
  rssLater?: number;
  /** RSS 5 s after the load stopped (after rows). */
  rssEarly?: number;
  heapSize?: number;
  heapCapacity?: number;
  extra?: number;
  commit?: number;
  types?: Record<string, number>;
  note?: string;
}

/** RSS, peak and smaps Anonymous of `pid` as the kernel sees them now. */
function outside(pid: number): Pick<Row, "rss" | "anon" | "peakRss"> {
  const m = memoryOf(pid);
  let anonKb: number | undefined;
  try {
    anonKb = parseSmapsRollup(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8")).Anonymous;
  } catch {
    anonKb = undefined;
  }
  return { rss: m && m.rssKb * 1024, peakRss: m && m.peakKb * 1024, anon: anonKb === undefined ? undefined : anonKb * 1024 };
}

/** SIGUSR2 to `pid` and wait for the dump it writes into `dir` (the newest file naming its pid). */
async function dump(pid: number, dir: string, timeoutMs = 10_000): Promise<MemoryReport> {
  const seen = new Set(readdirSync(dir));
  process.kill(pid, "SIGUSR2");
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const file = readdirSync(dir).find((f) => !seen.has(f) && f.endsWith(`-${pid}.json`));
    if (file) {
      // Written in one writeFileSync; a partial read shows up as invalid JSON: read again.
      try {
        return JSON.parse(readFileSync(join(dir, file), "utf8")) as MemoryReport;
      } catch {
        /* not complete yet */
      }
    }
    await Bun.sleep(50);
  }
  throw new Error(`no memory dump from pid ${pid} within ${timeoutMs} ms`);
}

/** The row for `pid`: /proc first (as it is at rest), then the dump (after a full GC). */
async function measure(name: string, pid: number, dumpDir: string | undefined): Promise<Row> {
  const row: Row = { name, ...outside(pid) };
  if (!dumpDir) return row;
  const r = await dump(pid, dumpDir);
  await Bun.sleep(5_000);
  return {
    ...row,
    rssAfterGc: r.process.current,
    rssLater: outside(pid).rss,
    heapSize: r.heap.heapSize,
    heapCapacity: r.heap.heapCapacity,
    extra: r.heap.extraMemorySize,
    commit: r.process.currentCommit,
    types: r.heap.objectTypeCounts,
  };
}

/** An idle `bun -e` process (optionally with one idle Worker) that dumps on SIGUSR2. */
async function bareBun(name: string, withWorker: boolean, dumpDir: string): Promise<Row> {
  const worker = withWorker
    ? `await new Promise((ok) => { const w = new Worker(URL.createObjectURL(new Blob(["postMessage(1); setInterval(() => {}, 1 << 30)"], { type: "application/javascript" }))); w.onmessage = ok; });`
    : "";
  const code = `const { installMemoryDump } = await import(${JSON.stringify(join(ROOT, "src/sys/memory-dump.ts"))}); installMemoryDump(process.env, () => {}); ${worker} console.log("ready"); setInterval(() => {}, 1 << 30);`;
  const proc = Bun.spawn([BUN, "-e", code], { env: { ...process.env, [MEMORY_DIR_ENV]: dumpDir }, stdout: "pipe", stderr: "inherit" });
  try {
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    const first = await Promise.race([reader.read(), Bun.sleep(15_000).then(() => undefined)]);
    if (!first || first.done) throw new Error(`${name}: the child did not start`);
    await Bun.sleep(2_000);
    return await measure(name, proc.pid, dumpDir);
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

class Lab {
  readonly lab = new NetLab();
  srvNs = "";
  cliNs = "";
  srvIf = "";
  cliIf = "";
  perf?: PerfdhcpRunner;

  async topology(): Promise<void> {
    this.srvNs = await this.lab.ns("ms");
    this.cliNs = await this.lab.ns("mc");
    this.srvIf = this.lab.name("vs");
    this.cliIf = this.lab.name("vc");
    await this.lab.veth({ ns: this.srvNs, name: this.srvIf }, { ns: this.cliNs, name: this.cliIf });
    await this.lab.addr(this.srvNs, this.srvIf, `${SERVER_ADDR}/24`);
    await this.lab.addr(this.cliNs, this.cliIf, `${CLIENT_ADDR}/24`);
    this.perf = new PerfdhcpRunner({ lab: this.lab, ns: this.cliNs, iface: this.cliIf, cpu: CLIENT_CPU, clients: CLIENTS, stepSeconds: RATE_SECONDS, drainMs: 0, say });
  }

  segment(dir: string): Segment {
    return { lab: this.lab, ns: this.srvNs, iface: this.srvIf, serverAddr: SERVER_ADDR, subnet: SUBNET, poolStart: POOL.start, poolEnd: POOL.end, cpu: SERVER_CPU, dir };
  }

  /**
   * Start `target`, measure it idle, serve 200 clients, rest, measure again. `env` is set in this
   * process while the target starts (the lab passes its environment on) and removed after.
   */
  async server(name: string, target: Target, env: Record<string, string>, dumpDir: string | undefined): Promise<Row[]> {
    const missing = target.missing();
    if (missing) return [{ name: `${name} idle`, note: missing }];
    const dir = mkdtempSync(join(tmpdir(), `socle-membench-${name}-`));
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    let srv: RunningServer | undefined;
    try {
      Object.assign(process.env, env);
      try {
        srv = await target.start(this.segment(dir));
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      if (!(await this.perf!.probe(SERVER_ADDR, 40_000))) return [{ name: `${name} idle`, note: `${name}: no answers within 40 s` }];
      await Bun.sleep(dumpDir ? IDLE_SECONDS * 1000 : 2_000);
      const idle = await measure(`${name} idle`, srv.pid, dumpDir);
      const av = await this.perf!.run(SERVER_ADDR, ["--scenario", "avalanche", "-R", String(CLIENTS)], 30_000);
      let avText = "not all provisioned within 30 s";
      try {
        const rep = parsePerfdhcp(av);
        avText = `${rep.avalancheSeconds?.toFixed(2) ?? "?"} s, ${rep.resent ?? "?"} resent`;
      } catch {
        /* avText says it */
      }
      const step = await this.perf!.measure(SERVER_ADDR, RATE);
      const rest = dumpDir ? REST_SECONDS : Math.min(REST_SECONDS, 5);
      await Bun.sleep(Math.min(rest, 5) * 1000);
      const rssEarly = outside(srv.pid).rss;
      await Bun.sleep(Math.max(0, rest - 5) * 1000);
      const after = { ...(await measure(`${name} after ${CLIENTS}`, srv.pid, dumpDir)), rssEarly };
      after.note = `avalanche ${avText}; ${RATE}/s for ${RATE_SECONDS} s: ${step.achieved.toFixed(0)}/s done, ${step.dropsPct.toFixed(2)} % drops`;
      return [idle, after];
    } catch (err) {
      return [{ name: `${name} idle`, note: `${name} failed: ${(err as Error).message.split("\n").slice(0, 3).join(" | ")}` }];
    } finally {
      await srv?.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

// ---- store-only children: bytes per lease ----------------------------------------------------

interface LeaseFigures {
  mode: string;
  leases: number;
  writes?: number;
  /** heapSize after fullGC at each stage, bytes. */
  stages: Array<{ stage: string; heapSize: number }>;
  shallowLeaseBytes: number;
  types: Record<string, number>;
}

const heapNow = () => {
  fullGC();
  return heapStats();
};

const leaseRecord = (i: number, expires: string): LeaseRecord => ({
  Addr: `198.18.${(i >> 8) & 255}.${i & 255}`,
  Token: `02:5b:00:00:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`,
  Strategy: "MAC",
  State: "ACK",
  ExpireTime: expires,
  Via: "203.0.113.2",
  Hostname: "",
});

/** Child: open a data directory holding `n` leases, then build the two adapters over it. */
async function childOpen(dir: string, n: number): Promise<LeaseFigures> {
  const h0 = heapNow();
  const store = await openFileStore({ dir });
  store.list("leases");
  const h1 = heapNow();
  const backend = createStoreDhcpBackend(store, nullLogger);
  const boot = createStoreBootData(store, nullLogger);
  const h2 = heapNow();
  const types = diffTypes(h0.objectTypeCounts, h2.objectTypeCounts);
  const one = store.list("leases")[0];
  const figures: LeaseFigures = {
    mode: "open",
    leases: store.count("leases"),
    stages: [
      { stage: "before open", heapSize: h0.heapSize },
      { stage: "store opened", heapSize: h1.heapSize },
      { stage: "adapters built", heapSize: h2.heapSize },
    ],
    shallowLeaseBytes: one ? estimateShallowMemoryUsageOf(one) : NaN,
    types,
  };
  backend.close();
  boot.close();
  await store.close();
  return figures;
}

/** Child: 200 leases through the DHCP backend, then each renewed `rounds` times. */
async function childChurn(dir: string, rounds: number): Promise<LeaseFigures> {
  const store = await openFileStore({ dir });
  const backend = createStoreDhcpBackend(store, nullLogger);
  const boot = createStoreBootData(store, nullLogger);
  const h0 = heapNow();
  const expires = () => new Date(Date.now() + 3600_000).toISOString();
  const write = () => {
    const e = expires();
    return Promise.all(Array.from({ length: CLIENTS }, (_, i) => backend.saveLease(leaseRecord(i, e))));
  };
  await write();
  const h1 = heapNow();
  for (let r = 0; r < rounds; r++) await write();
  const h2 = heapNow();
  const figures: LeaseFigures = {
    mode: "churn",
    leases: store.count("leases"),
    writes: CLIENTS * (rounds + 1),
    stages: [
      { stage: "empty, adapters built", heapSize: h0.heapSize },
      { stage: `${CLIENTS} leases written`, heapSize: h1.heapSize },
      { stage: `each renewed ${rounds} times`, heapSize: h2.heapSize },
    ],
    shallowLeaseBytes: estimateShallowMemoryUsageOf(leaseObject(leaseRecord(0, expires()))),
    types: diffTypes(h1.objectTypeCounts, h2.objectTypeCounts),
  };
  backend.close();
  boot.close();
  await store.close();
  return figures;
}

async function leaseChild(mode: "open" | "churn", dir: string, n: number): Promise<LeaseFigures> {
  const proc = Bun.spawn([BUN, import.meta.path, "--lease-child", mode, dir, String(n)], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`lease child ${mode} exited ${code}: ${err.trim().slice(-800)}`);
  return JSON.parse(out.trim().split("\n").pop()!) as LeaseFigures;
}

// ---- printing ---------------------------------------------------------------------------------

/** The largest changes in live cell counts from `a` to `b`, by absolute size. */
function diffTypes(a: Record<string, number> = {}, b: Record<string, number> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return Object.fromEntries(Object.entries(out).sort((x, y) => Math.abs(y[1]) - Math.abs(x[1])).slice(0, TOP_TYPES));
}

function printRows(rows: Row[]): void {
  const head = ["row", "RSS 5 s after load", "RSS MB", "anon MB", "peak MB", "RSS after GC", "RSS +5 s", "heapSize MB", "heapCapacity MB", "extra MB", "mimalloc commit MB"];
  const cells = rows.map((r) => [r.name, mb(r.rssEarly), mb(r.rss), mb(r.anon), mb(r.peakRss), mb(r.rssAfterGc), mb(r.rssLater), mb(r.heapSize), mb(r.heapCapacity), mb(r.extra), mb(r.commit)]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  say(line(head));
  say(widths.map((w) => "-".repeat(w)).join("  "));
  for (const c of cells) say(line(c));
  for (const r of rows) if (r.note) say(`  ${r.name}: ${r.note}`);
}

function printTypes(title: string, a: Row | undefined, b: Row | undefined): void {
  if (!a?.types || !b?.types) return;
  const d = diffTypes(a.types, b.types);
  say(`\n${title} (live cells, top ${TOP_TYPES} changes):`);
  say(`  ${Object.entries(d).map(([k, v]) => `${k} ${v > 0 ? "+" : ""}${v}`).join(", ")}`);
}

async function main(): Promise<number> {
  say(`memory bench: Bun ${Bun.version}, ${cpus().length} CPUs; uptime: load ${loadText()}`);
  const rows: Row[] = [];
  const dumpDir = mkdtempSync(join(tmpdir(), "socle-membench-dumps-"));
  const lab = new Lab();
  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= lab.lab.cleanup().catch((err) => console.error(`memory bench: ${(err as Error).message}`)));
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  process.once("SIGTERM", () => void cleanup().then(() => process.exit(143)));
  let leaseFigures: LeaseFigures[] = [];
  try {
    if (ONLY.includes("bare")) rows.push(await bareBun("bare Bun", false, dumpDir));
    if (ONLY.includes("worker")) rows.push(await bareBun("Bun + 1 Worker", true, dumpDir));
    const servers: Array<[string, Target, Record<string, string>, boolean]> = [
      ["kea", kea, {}, false],
      ["dnsmasq", dnsmasq, {}, false],
      ["socle", socle, { [MEMORY_DIR_ENV]: dumpDir }, true],
      ["socle-no-timeline", socleNoTimeline, { [MEMORY_DIR_ENV]: dumpDir }, true],
      ["socle-compiled", socleCompiled, { [MEMORY_DIR_ENV]: dumpDir }, true],
      ["socle-smol", socle, { [MEMORY_DIR_ENV]: dumpDir, BUN_OPTIONS: "--smol" }, true],
    ];
    const wanted = servers.filter(([n]) => ONLY.includes(n));
    if (Object.keys(SOCLE_ENV).length > 0) {
      say(`socle+env: ${Object.entries(SOCLE_ENV).map(([k, v]) => `${k}=${v}`).join(" ")}`);
      wanted.push(["socle+env", socle, { [MEMORY_DIR_ENV]: dumpDir, ...SOCLE_ENV }, true]);
    }
    if (wanted.length > 0) {
      const skip = needsRoot() ?? (Bun.which("perfdhcp") ? undefined : "perfdhcp not found (apt-get install kea-admin)") ?? (Bun.which("taskset") ? undefined : "taskset not found");
      if (skip) say(`servers skipped: ${skip}`);
      else {
        await lab.topology();
        for (const [name, target, env, dumps] of wanted) {
          say(`${name}: starting (server cpu ${SERVER_CPU}, perfdhcp cpu ${CLIENT_CPU})`);
          rows.push(...(await lab.server(name, target, env, dumps ? dumpDir : undefined)));
        }
      }
    }
    if (ONLY.includes("leases")) {
      const dir = mkdtempSync(join(tmpdir(), "socle-membench-leases-"));
      try {
        say(`leases: writing ${LEASES} synthetic leases (198.18.0.0/15 records, never on a network)`);
        await populateLeases(join(dir, "open"), LEASES);
        leaseFigures = [await leaseChild("open", join(dir, "open"), LEASES), await leaseChild("churn", join(dir, "churn"), 100)];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await cleanup();
    rmSync(dumpDir, { recursive: true, force: true });
  }

  say(`\n=== memory at rest, ${REST_SECONDS} s after the load (RSS/anon/peak from /proc before the dump; the rest after a full GC in the process) ===`);
  printRows(rows);
  const by = (n: string) => rows.find((r) => r.name === n);
  printTypes("socle: idle -> after 200 clients", by("socle idle"), by(`socle after ${CLIENTS}`));
  printTypes("socle-compiled: idle -> after 200 clients", by("socle-compiled idle"), by(`socle-compiled after ${CLIENTS}`));
  printTypes("after 200 clients: socle-no-timeline -> socle", by(`socle-no-timeline after ${CLIENTS}`), by(`socle after ${CLIENTS}`));
  printTypes("bare Bun -> socle idle", by("bare Bun"), by("socle idle"));
  printTypes("after 200 clients: socle -> socle+env", by(`socle after ${CLIENTS}`), by(`socle+env after ${CLIENTS}`));

  const ref = by(`socle after ${CLIENTS}`)?.rss;
  say("");
  for (const peer of ["bare Bun", "Bun + 1 Worker", "kea idle", `kea after ${CLIENTS}`, "dnsmasq idle", `dnsmasq after ${CLIENTS}`]) {
    const p = by(peer)?.rss;
    if (ref !== undefined && p) say(`socle after ${CLIENTS} / ${peer}: ${(ref / p).toFixed(2)}x RSS (${mb(ref)} MB vs ${mb(p)} MB)`);
  }
  for (const name of ["socle", "socle-compiled"]) {
    const rss = by(`${name} after ${CLIENTS}`)?.rss;
    if (rss !== undefined) say(`target: ${name} after ${CLIENTS} at rest <= 80 MB RSS: ${rss <= 80 * 1048576 ? "met" : "NOT met"} (${mb(rss)} MB)`);
  }

  for (const f of leaseFigures) {
    say(`\nleases, ${f.mode}: ${f.leases} leases${f.writes ? `, ${f.writes} writes` : ""}; one lease object (shallow) ${f.shallowLeaseBytes} B`);
    let prev: number | undefined;
    for (const s of f.stages) {
      const per = prev === undefined ? "" : `  (+${mb(s.heapSize - prev)} MB, ${((s.heapSize - prev) / (f.mode === "open" ? f.leases : (f.writes ?? 1) - CLIENTS || 1)).toFixed(0)} B per ${f.mode === "open" ? "lease" : "renewal"})`;
      say(`  ${s.stage.padEnd(28)} heapSize ${mb(s.heapSize)} MB${per}`);
      prev = s.heapSize;
    }
    say(`  live cells: ${Object.entries(f.types).map(([k, v]) => `${k} ${v > 0 ? "+" : ""}${v}`).join(", ")}`);
  }
  say(`\nuptime: load ${loadText()}`);
  if ((loadavg()[1] ?? 0) > cpus().length * 0.75) say(`note: the machine was busy (load ${loadText()} on ${cpus().length} CPUs); figures are noisy`);
  console.log(JSON.stringify({ bench: "memory", rows: rows.map(({ types: _t, ...r }) => r), leases: leaseFigures.map(({ types: _t, ...f }) => f) }));
  return rows.some((r) => r.note?.includes("failed")) ? 1 : 0;
}

if (args[0] === "--lease-child") {
  const [, mode, dir, n] = args;
  const f = mode === "open" ? await childOpen(dir!, Number(n)) : await childChurn(dir!, Number(n));
  console.log(JSON.stringify(f));
  process.exit(0);
} else {
  process.exit(await main());
}
