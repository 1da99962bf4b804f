// bun test/bench/dhcp-bench.ts [--quick] [--only kea,dnsmasq,socle,socle-no-timeline,bun-floor] [--step SECONDS]
//                              [--parts avalanche,fixed,search,memory] [--fixed 1000,4000]
//
// perfdhcp (Debian kea-admin) runs full DORA exchanges against Kea 2.2, dnsmasq and Socle, one
// after another, each inside network namespaces this bench creates:
//
//   server ns: <veth> 203.0.113.1/24 ---- client ns: <veth> 203.0.113.2/24, perfdhcp -l <veth>
//
// perfdhcp acts as a relay: it sends from 203.0.113.2:67 with giaddr 203.0.113.2, and the server
// answers giaddr:67, so the subnet served is giaddr's: 203.0.113.0/24, pool .10-.250. A /24 holds
// 241 addresses, so 200 simulated clients (-R) renew the leases they already hold: that measures
// sustained DORA. A burst of new clients is the avalanche scenario, run first on a fresh server,
// then once more on the warm server with 200 other MACs. Those need a pool of their own (the /24
// is taken by then), so both sides also hold 198.51.100.1-2/24 and the second burst is relayed
// from 198.51.100.2, a second subnet every server serves.
// Server and perfdhcp are pinned to different CPUs (taskset), or the two compete for one.
//
// For each server (each part can be left out with --parts): both avalanches; fixed steps (1,000
// and 4,000/s unless --fixed) with done/s and the D-O and R-A average and 99th percentile (from
// perfdhcp's per-packet timestamps); the highest offered rate with at most 1 % drops (doubling,
// then bisecting; a failed step is measured twice), its average and maximum latency; RSS. Around
// each avalanche and fixed step, the UDP drop counters of both namespaces (nstat) and, for Socle,
// the journal's sync histogram (GET /metrics: socle_store_fsync_seconds, the durable write of
// each group-committed batch) are read; the bench prints their differences.
// Then Socle's memory with 100,000 leases in its store (synthetic records in 198.18.0.0/15 that
// never go on a network). Prints tables, the Socle/Kea and Socle/dnsmasq ratios, and a JSON line.
// "socle-no-timeline" (not run unless named in --only) is Socle with `--timeline-macs 0`, run right
// after "socle": the ratios of the two are what the boot timeline costs on the wire. The timeline
// of the "socle" run is read through the API before it stops (its LastSeq must be above 0, or the
// comparison is void: nothing was recorded).
// "bun-floor" (not run unless named in --only) is no DHCP server: Socle's codec on one
// Bun.udpSocket, answering from a hash of the MAC with no lease engine, store or flush
// (dhcp-floor.ts). Its latency is the runtime's share of Socle's: what is left for Socle's own
// work to cost against Kea's.
// Stops by itself (about 10 minutes at most); removes its namespaces and kills what it started
// (by PID) at the end, on failure and on SIGINT/SIGTERM.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { NetLab, needsRoot } from "../helpers/netns.ts";
import { bunFloor, dnsmasq, kea, memoryOf, socle, socleCli, socleGet, socleNoTimeline, type RunningServer, type Segment, type Target, SERVER_ADDR, CLIENT_ADDR, SUBNET, POOL, SERVER_CPU, CLIENT_CPU } from "./dhcp-targets.ts";
import { populateLeases } from "./lease-memory.ts";
import { parsePerfdhcp, quantile, type PerfdhcpReport } from "./perfdhcp-report.ts";
import { counterDelta, histogramDelta, parseHistogram, parseNstat, UDP_COUNTERS, type Histogram, type HistogramDelta } from "./server-counters.ts";
import { PerfdhcpRunner, type PerfdhcpStep } from "./perfdhcp-runner.ts";
import { findMaxRate } from "./rate-search.ts";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const QUICK = args.includes("--quick");
const STEP_SECONDS = Number(flag("--step") ?? (QUICK ? 2 : 5));
const ONLY = (flag("--only") ?? "kea,dnsmasq,socle").split(",").map((s) => s.trim());
const PARTS = new Set((flag("--parts") ?? "avalanche,fixed,search,memory").split(",").map((s) => s.trim()));
const FIXED = (flag("--fixed") ?? "1000,4000").split(",").map(Number).filter((n) => Number.isFinite(n) && n > 0);
const TOTAL_CAP_MS = (QUICK ? 4 : 10) * 60_000;
const CLIENTS = 200;
const LEASES_FOR_MEMORY = QUICK ? 20_000 : 100_000;
const MAX_DROPS_PCT = 1;
const DRAIN_MS = 1_500;
/** dnsmasq pings each address before offering it to a new client; on a busy machine that is slow. */
const PROBE_MS = 40_000;

const SERVER_ADDR_2 = "198.51.100.1";
const CLIENT_ADDR_2 = "198.51.100.2";
const POOL_2 = { subnet: "198.51.100.0/24", poolStart: "198.51.100.10", poolEnd: "198.51.100.250" };
/** perfdhcp's default base MAC is 00:0c:01:02:03:04; the warm burst's clients differ in every one. */
const WARM_MAC_BASE = "00:0c:02:00:00:00";
const FSYNC_METRIC = "socle_store_fsync_seconds";

type Step = PerfdhcpStep;

/** What the kernel and the server counted during one step or burst. */
interface Counted {
  /** UDP counter differences in the server's and the client's namespace. */
  udp?: { server: Record<string, number>; client: Record<string, number> };
  /** Socle: the journal's durable writes meanwhile (one per group-committed batch). */
  fsync?: HistogramDelta;
}

interface FixedStep extends Counted {
  step: Step;
  doP99Ms: number;
  raP99Ms: number;
}

interface Burst extends Counted {
  report?: PerfdhcpReport;
  note?: string;
}

interface ServerResult {
  name: string;
  status: "ok" | "no answers" | "failed" | "skipped";
  note?: string;
  best?: Step;
  steps: Step[];
  cut?: string;
  avalanche?: PerfdhcpReport;
  /** The first avalanche (fresh server) and the second (warm server, new MACs, second subnet). */
  fresh?: Burst;
  warm?: Burst;
  fixed: FixedStep[];
  rssKb?: number;
  leasesPersisted?: number;
  persistence?: string;
  /** Socle: the boot timeline's LastSeq once measured (0: nothing recorded), or why it is unknown. */
  timeline?: { lastSeq?: number; note: string };
}

const f1 = (n: number) => n.toFixed(1);
const loadText = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const f2 = (n: number) => n.toFixed(2);
const say = (s: string) => console.log(s);
const ms = (s: number) => (s === Infinity ? "inf" : (s * 1000).toFixed(3));

/** One line for what a step's counters showed. */
function countedText(c: Counted): string {
  const parts: string[] = [];
  if (c.fsync) {
    const f = c.fsync;
    parts.push(f.count === 0 ? "journal syncs: none" : `journal syncs: ${f.count} (mean ${ms(f.mean)} ms, p50 <= ${ms(f.p50Le)} ms, p99 <= ${ms(f.p99Le)} ms, ${f2(f.sum)} s in all)`);
  }
  if (c.udp) {
    const u = (r: Record<string, number>) => `RcvbufErrors ${r.UdpRcvbufErrors ?? "?"}, InErrors ${r.UdpInErrors ?? "?"}, SndbufErrors ${r.UdpSndbufErrors ?? "?"}`;
    parts.push(`udp server ns: ${u(c.udp.server)}; client ns: ${u(c.udp.client)}`);
  }
  return parts.join(" | ");
}

class Bench {
  readonly lab = new NetLab();
  private srvNs = "";
  private cliNs = "";
  private srvIf = "";
  private cliIf = "";
  private perf: PerfdhcpRunner | undefined;
  private readonly deadline = performance.now() + TOTAL_CAP_MS;

  async topology(): Promise<void> {
    this.srvNs = await this.lab.ns("bs");
    this.cliNs = await this.lab.ns("bc");
    this.srvIf = this.lab.name("vs");
    this.cliIf = this.lab.name("vc");
    await this.lab.veth({ ns: this.srvNs, name: this.srvIf }, { ns: this.cliNs, name: this.cliIf });
    await this.lab.addr(this.srvNs, this.srvIf, `${SERVER_ADDR}/24`);
    await this.lab.addr(this.cliNs, this.cliIf, `${CLIENT_ADDR}/24`);
    await this.lab.addr(this.srvNs, this.srvIf, `${SERVER_ADDR_2}/24`);
    await this.lab.addr(this.cliNs, this.cliIf, `${CLIENT_ADDR_2}/24`);
  }

  segment(dir: string): Segment {
    return { lab: this.lab, ns: this.srvNs, iface: this.srvIf, serverAddr: SERVER_ADDR, subnet: SUBNET, poolStart: POOL.start, poolEnd: POOL.end, cpu: SERVER_CPU, dir, second: POOL_2 };
  }

  private async udpCounters(ns: string): Promise<Record<string, number> | undefined> {
    const r = await this.lab.exec(ns, ["nstat", "-asz", ...UDP_COUNTERS], 10_000);
    return r.code === 0 ? parseNstat(r.stdout) : undefined;
  }

  /** Counters now: both namespaces' UDP counters, Socle's fsync histogram when `socleAt` is given. */
  async counters(socleAt?: { dir: string; port: number }): Promise<{ server?: Record<string, number>; client?: Record<string, number>; fsync?: Histogram }> {
    const [server, client] = await Promise.all([this.udpCounters(this.srvNs), this.udpCounters(this.cliNs)]);
    let fsync: Histogram | undefined;
    if (socleAt) {
      const r = await socleGet(this.segment(socleAt.dir), join(socleAt.dir, "socle-data"), socleAt.port, "/metrics").catch(() => undefined);
      if (r?.status === 200) fsync = parseHistogram(r.body, FSYNC_METRIC);
    }
    return { server, client, fsync };
  }

  /** Run `fn` between two reads of the counters; its result with their differences. */
  async counted<T>(socleAt: { dir: string; port: number } | undefined, fn: () => Promise<T>): Promise<[T, Counted]> {
    const before = await this.counters(socleAt);
    const value = await fn();
    const after = await this.counters(socleAt);
    const c: Counted = {};
    if (before.server && after.server && before.client && after.client) {
      c.udp = { server: counterDelta(before.server, after.server), client: counterDelta(before.client, after.client) };
    }
    if (after.fsync) c.fsync = histogramDelta(before.fsync, after.fsync);
    return [value, c];
  }

  private runner(): PerfdhcpRunner {
    return (this.perf ??= new PerfdhcpRunner({ lab: this.lab, ns: this.cliNs, iface: this.cliIf, cpu: CLIENT_CPU, clients: CLIENTS, stepSeconds: STEP_SECONDS, drainMs: DRAIN_MS, say }));
  }

  perfdhcp(perfArgs: string[], timeoutMs: number): Promise<string> {
    return this.runner().run(SERVER_ADDR, perfArgs, timeoutMs);
  }

  probe(timeoutMs: number): Promise<boolean> {
    return this.runner().probe(SERVER_ADDR, timeoutMs);
  }

  measure(rate: number, delays = false): Promise<Step> {
    return this.runner().measure(SERVER_ADDR, rate, delays);
  }

  /** An avalanche of CLIENTS new clients: from the first subnet, or the second with other MACs. */
  async burst(label: string, second: boolean, socleAt: { dir: string; port: number } | undefined): Promise<Burst> {
    const args = ["--scenario", "avalanche", "-R", String(CLIENTS), ...(second ? ["-b", `mac=${WARM_MAC_BASE}`] : [])];
    const [out, c] = await this.counted(socleAt, () => this.runner().run(SERVER_ADDR, args, 30_000, second ? CLIENT_ADDR_2 : this.cliIf));
    const b: Burst = { ...c };
    try {
      b.report = parsePerfdhcp(out);
      say(`  avalanche ${label}: ${CLIENTS} clients in ${f2(b.report.avalancheSeconds ?? NaN)} s, ${b.report.resent ?? "?"} requests resent`);
    } catch (err) {
      b.note = `not all ${CLIENTS} clients provisioned within 30 s (${(err as Error).message.slice(0, 120).split("\n")[0]})`;
      say(`  avalanche ${label}: ${b.note}`);
    }
    const counted = countedText(b);
    if (counted) say(`    ${counted}`);
    return b;
  }

  /** Start `target`, probe, avalanche, rate search; `remaining` counts it and the targets after it. */
  async run(target: Target, leaseCount: (srv: RunningServer, dir: string) => Promise<number | undefined>, remaining: number): Promise<ServerResult> {
    const res: ServerResult = { name: target.name, status: "skipped", steps: [], fixed: [] };
    const missing = target.missing();
    if (missing) {
      res.note = missing;
      return res;
    }
    if (performance.now() >= this.deadline) {
      res.note = "time cap reached before it could run";
      return res;
    }
    const dir = mkdtempSync(join(tmpdir(), `socle-bench-${target.name}-`));
    let srv: RunningServer | undefined;
    try {
      say(`\n${target.name}: starting in ${this.srvNs} on ${this.srvIf} (cpu ${SERVER_CPU}), perfdhcp on cpu ${CLIENT_CPU}`);
      srv = await target.start(this.segment(dir));
      res.persistence = srv.persistence;
      if (!(await this.probe(PROBE_MS))) {
        res.status = "no answers";
        res.note = `${target.name}: no answers (no DHCPACK within ${PROBE_MS / 1000} s of start); last output: ${srv.output().trim().split("\n").slice(-3).join(" | ")}`;
        say(`  ${res.note}`);
        return res;
      }
      const isSocle = target === socle || target === socleNoTimeline;
      const port = isSocle ? soclePort(srv) : undefined;
      const socleAt = port ? { dir, port } : undefined;
      // Avalanche first, while all CLIENTS are new to this server.
      if (PARTS.has("avalanche")) {
        res.fresh = await this.burst(`fresh (${CLIENTS - 5} new, 5 known from the readiness probe)`, false, socleAt);
        res.avalanche = res.fresh.report;
      }
      // Warm-up, not measured: the first seconds after the burst are not steady state.
      await this.perfdhcp(["-r", "500", "-R", String(CLIENTS), "-p", "2"], 20_000);
      if (PARTS.has("avalanche")) res.warm = await this.burst(`warm (${CLIENTS} other MACs, second subnet)`, true, socleAt);
      if (PARTS.has("fixed")) {
        for (const rate of FIXED) {
          const [step, c] = await this.counted(socleAt, () => this.measure(rate, true));
          const fixed: FixedStep = { step, doP99Ms: quantile(step.discoverOfferMs ?? [], 0.99), raP99Ms: quantile(step.requestAckMs ?? [], 0.99), ...c };
          res.fixed.push(fixed);
          say(`    p99 D-O ${f2(fixed.doP99Ms)} ms, R-A ${f2(fixed.raP99Ms)} ms; ${countedText(fixed)}`);
        }
      }
      if (!PARTS.has("search")) {
        res.status = res.fixed.length > 0 || res.fresh?.report ? "ok" : "no answers";
        res.rssKb = memoryOf(srv.pid)?.rssKb;
        // As below: Socle is asked while it runs, the others' lease files are read once they stopped.
        if (!isSocle) await srv.stop();
        res.leasesPersisted = await leaseCount(srv, dir).catch(() => undefined);
        return res;
      }
      // Each server gets an equal share of what is left of the time cap (half a share is kept for
      // the memory run).
      const share = (this.deadline - performance.now()) / (remaining + 0.5);
      const search = await findMaxRate((r) => this.measure(r), {
        start: 500,
        max: 64_000,
        min: 50,
        maxDropsPct: MAX_DROPS_PCT,
        minAchievedShare: 0.9,
        resolution: QUICK ? 0.15 : 0.05,
        maxSteps: QUICK ? 10 : 24,
        deadline: performance.now() + share,
        retryFailures: true,
      });
      res.steps = search.steps;
      res.best = search.best;
      res.cut = search.cut;
      res.status = search.best ? "ok" : "no answers";
      if (!search.best) res.note = `${target.name}: no rate passed with <= ${MAX_DROPS_PCT} % drops`;
      res.rssKb = memoryOf(srv.pid)?.rssKb;
      // Socle is asked through its API while it runs; the others' lease files are read once they
      // stopped (dnsmasq truncates and rewrites its file, so a read while it runs may see nothing).
      if (isSocle) {
        res.leasesPersisted = await leaseCount(srv, dir).catch(() => undefined);
        res.timeline = await socleTimeline(this, dir, srv);
        say(`  timeline: ${res.timeline.note}`);
      } else {
        await srv.stop();
        res.leasesPersisted = await leaseCount(srv, dir).catch(() => undefined);
      }
      return res;
    } catch (err) {
      res.status = "failed";
      res.note = `${target.name}: ${(err as Error).message.split("\n").slice(0, 4).join(" | ")}`;
      say(`  ${res.note}`);
      return res;
    } finally {
      await srv?.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Socle started on a data directory holding `count` leases: RSS once it serves DHCP. */
  async socleMemory(count: number): Promise<{ populateMs: number; rssKb?: number; peakKb?: number; leases?: number; note?: string }> {
    const dir = mkdtempSync(join(tmpdir(), "socle-bench-mem-"));
    let srv: RunningServer | undefined;
    try {
      const populateMs = await populateLeases(join(dir, "socle-data"), count);
      srv = await socle.start(this.segment(dir));
      await Bun.sleep(2_000); // let start-up garbage settle, as a long-running server's would
      const answered = await this.probe(PROBE_MS);
      const mem = memoryOf(srv.pid);
      const leases = await socleLeaseCount(this, dir, srv).catch(() => undefined);
      return { populateMs, rssKb: mem?.rssKb, peakKb: mem?.peakKb, leases, note: answered ? undefined : "socle: no answers while holding the leases" };
    } catch (err) {
      return { populateMs: NaN, note: `socle memory run failed: ${(err as Error).message.split("\n")[0]}` };
    } finally {
      await srv?.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Socle's API port, from its start line. */
function soclePort(srv: RunningServer): number | undefined {
  const port = Number(/"api":"https:\/\/127\.0\.0\.1:(\d+)\/api\/v3"/.exec(srv.output())?.[1]);
  return port > 0 ? port : undefined;
}

/** Leases the API reports (the CLI in the server namespace); port from the server's start line. */
async function socleLeaseCount(bench: Bench, dir: string, srv: RunningServer): Promise<number | undefined> {
  const port = soclePort(srv);
  if (!port) return undefined;
  const seg = bench.segment(dir);
  const r = await socleCli(seg, join(dir, "socle-data"), port, ["leases", "list", "State=Eq(ACK)"]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as unknown[]).length;
}

/** What GET /api/v3/timeline?limit=1 says: LastSeq when the timeline is on, the refusal when off. */
async function socleTimeline(bench: Bench, dir: string, srv: RunningServer): Promise<{ lastSeq?: number; note: string }> {
  const port = Number(/"api":"https:\/\/127\.0\.0\.1:(\d+)\/api\/v3"/.exec(srv.output())?.[1]);
  if (!port) return { note: "API port not found in the server's output" };
  try {
    const r = await socleGet(bench.segment(dir), join(dir, "socle-data"), port, "/api/v3/timeline?limit=1");
    if (r.status !== 200) return { note: `GET /api/v3/timeline: ${r.status} ${r.body.trim().slice(0, 200)}` };
    const body = JSON.parse(r.body) as { LastSeq?: unknown; Stats?: { macs?: number } };
    const lastSeq = typeof body.LastSeq === "number" ? body.LastSeq : undefined;
    if (lastSeq === undefined) return { note: `GET /api/v3/timeline: no LastSeq in ${r.body.slice(0, 200)}` };
    return { lastSeq, note: `GET /api/v3/timeline?limit=1: LastSeq ${lastSeq}, ${body.Stats?.macs ?? "?"} MACs held` };
  } catch (err) {
    return { note: `GET /api/v3/timeline failed: ${(err as Error).message.split("\n")[0]}` };
  }
}

const countLines = (file: string, keep: (line: string) => boolean) => {
  const lines = readFileSync(file, "utf8").split("\n").filter(keep);
  return lines.length;
};

function table(results: ServerResult[]): void {
  const head = ["server", "offered/s", "done/s", "drops %", "D-O avg/max ms", "R-A avg/max ms", `avalanche ${CLIENTS} (s, resent)`, "RSS MB", "leases stored"];
  const rows = results.map((r) => {
    const b = r.best;
    const av = r.avalanche;
    return [
      r.name,
      b ? String(b.rate) : r.status,
      b ? f1(b.achieved) : "-",
      b ? f2(b.dropsPct) : "-",
      b ? `${f2(b.report.discoverOffer.avgMs)} / ${f1(b.report.discoverOffer.maxMs)}` : "-",
      b ? `${f2(b.report.requestAck.avgMs)} / ${f1(b.report.requestAck.maxMs)}` : "-",
      av?.avalancheSeconds !== undefined ? `${f2(av.avalancheSeconds)}, ${av.resent ?? "?"}` : "-",
      r.rssKb !== undefined ? f1(r.rssKb / 1024) : "-",
      r.leasesPersisted !== undefined ? String(r.leasesPersisted) : "-",
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join("  ");
  say(line(head));
  say(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) say(line(r));
}

function grid(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join("  ");
  say(line(head));
  say(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) say(line(r));
}

/** Fixed offered rates, every server: done/s, D-O and R-A average and p99, what was counted. */
function fixedTable(results: ServerResult[]): void {
  const rows: string[][] = [];
  for (const rate of FIXED) {
    for (const r of results) {
      const f = r.fixed.find((x) => x.step.rate === rate);
      if (!f) continue;
      const rep = f.step.report;
      rows.push([
        String(rate),
        r.name,
        f1(f.step.achieved),
        f2(f.step.dropsPct),
        `${f2(rep.discoverOffer.avgMs)} / ${f2(f.doP99Ms)}`,
        `${f2(rep.requestAck.avgMs)} / ${f2(f.raP99Ms)}`,
        f.fsync ? `${f.fsync.count}, ${ms(f.fsync.mean)}` : "-",
        f.udp ? String(f.udp.server.UdpRcvbufErrors ?? "?") : "-",
      ]);
    }
  }
  grid(["offered/s", "server", "done/s", "drops %", "D-O avg/p99 ms", "R-A avg/p99 ms", "journal syncs, mean ms", "srv RcvbufErrors"], rows);
}

function avalancheTable(results: ServerResult[]): void {
  const cell = (b?: Burst) => (b?.report?.avalancheSeconds !== undefined ? `${f2(b.report.avalancheSeconds)} s, ${b.report.resent ?? "?"}` : (b?.note ? "incomplete" : "-"));
  const drops = (b?: Burst) => (b?.udp ? String(b.udp.server.UdpRcvbufErrors ?? "?") : "-");
  const syncs = (b?: Burst) => (b?.fsync ? `${b.fsync.count}, ${ms(b.fsync.mean)}` : "-");
  grid(
    ["server", "fresh (time, resent)", "warm (time, resent)", "srv RcvbufErrors fresh/warm", "journal syncs, mean ms fresh / warm"],
    results.filter((r) => r.fresh || r.warm).map((r) => [r.name, cell(r.fresh), cell(r.warm), `${drops(r.fresh)} / ${drops(r.warm)}`, `${syncs(r.fresh)} / ${syncs(r.warm)}`]),
  );
}

function burstJson(b?: Burst) {
  if (!b) return undefined;
  return {
    seconds: b.report?.avalancheSeconds,
    resent: b.report?.resent,
    fsyncs: b.fsync?.count,
    fsyncMeanMs: b.fsync ? b.fsync.mean * 1000 : undefined,
    udpServer: b.udp?.server,
    udpClient: b.udp?.client,
  };
}

async function main(): Promise<number> {
  const skip = needsRoot();
  if (skip) {
    say(`dhcp bench skipped: ${skip}`);
    return 0;
  }
  if (!Bun.which("perfdhcp")) {
    say("dhcp bench: perfdhcp not found (apt-get install kea-admin)");
    return 1;
  }
  if (!Bun.which("taskset")) {
    say("dhcp bench: taskset not found (apt-get install util-linux)");
    return 1;
  }
  const bench = new Bench();
  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= bench.lab.cleanup().catch((err) => console.error(`dhcp bench: ${(err as Error).message}`)));
  const onSignal = (sig: string) => {
    say(`\ndhcp bench: ${sig}, cleaning up`);
    void cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", () => onSignal("SIGINT"));
  process.once("SIGTERM", () => onSignal("SIGTERM"));

  const started = performance.now();
  try {
    say(`dhcp bench: perfdhcp DORA, ${CLIENTS} clients (-R), ${STEP_SECONDS} s per rate step, <= ${MAX_DROPS_PCT} % drops; ${cpus().length} CPUs, Bun ${Bun.version}, load ${loadText()}`);
    await bench.topology();
    const targets: Array<[Target, (srv: RunningServer, dir: string) => Promise<number | undefined>]> = [
      [kea, async (_srv, dir) => new Set(readFileSync(join(dir, "kea-leases4.csv"), "utf8").split("\n").slice(1).filter(Boolean).map((l) => l.split(",")[0])).size],
      [dnsmasq, async (_srv, dir) => countLines(join(dir, "dnsmasq.leases"), (l) => l.trim() !== "")],
      [socle, (srv, dir) => socleLeaseCount(bench, dir, srv)],
      [socleNoTimeline, (srv, dir) => socleLeaseCount(bench, dir, srv)],
      [bunFloor, async () => undefined],
    ];
    const results: ServerResult[] = [];
    const selected = targets.filter(([t]) => ONLY.includes(t.name));
    for (const [i, [t, count]] of selected.entries()) results.push(await bench.run(t, count, selected.length - i));
    let mem: Awaited<ReturnType<Bench["socleMemory"]>> | undefined;
    if (ONLY.includes("socle") && PARTS.has("memory")) {
      say(`\nsocle memory: ${LEASES_FOR_MEMORY} leases in the store (198.18.0.0/15 records, never on a network)`);
      mem = await bench.socleMemory(LEASES_FOR_MEMORY);
    }

    if (PARTS.has("avalanche")) {
      say(`\n=== DHCP avalanche: ${CLIENTS} new clients at once, on a fresh server and again on the warm one (perfdhcp resends after 1 s +- 1 s, checked every 200 ms) ===`);
      avalancheTable(results);
    }
    if (PARTS.has("fixed")) {
      say(`\n=== DHCP DORA at fixed offered rates (perfdhcp, ${STEP_SECONDS} s steps; p99 from its per-packet timestamps) ===`);
      fixedTable(results);
    }
    if (PARTS.has("search")) {
      say(`\n=== DHCP DORA: highest offered rate with <= ${MAX_DROPS_PCT} % drops (perfdhcp, ${STEP_SECONDS} s steps) ===`);
      table(results);
    }
    for (const r of results) {
      if (r.note) say(`  ${r.note}`);
      if (r.cut) say(`  ${r.name}: search ended by the ${r.cut}; the rate is a lower bound`);
    }
    const by = (n: string) => results.find((r) => r.name === n);
    const ratio = (a?: ServerResult, b?: ServerResult) => (a?.best && b?.best ? a.best.achieved / b.best.achieved : undefined);
    const rk = ratio(by("socle"), by("kea"));
    const rd = ratio(by("socle"), by("dnsmasq"));
    say("");
    if (by("socle") && by("socle")!.status !== "ok") say(`socle: no answers (${by("socle")!.note ?? by("socle")!.status}); ratios not computed`);
    if (rk !== undefined) say(`Socle / Kea:     ${f2(rk)}x  (target >= 1.00x)`);
    if (rd !== undefined) say(`Socle / dnsmasq: ${f2(rd)}x  (target >= 1.00x)`);
    const on = by("socle");
    const off = by("socle-no-timeline");
    let timelineAb: { rate: number; doAvgMs: number; raAvgMs: number; sameOfferedRate: boolean; lastSeq?: number; void: boolean } | undefined;
    if (on?.best && off?.best) {
      const lastSeq = on.timeline?.lastSeq;
      timelineAb = {
        rate: on.best.achieved / off.best.achieved,
        doAvgMs: on.best.report.discoverOffer.avgMs / off.best.report.discoverOffer.avgMs,
        raAvgMs: on.best.report.requestAck.avgMs / off.best.report.requestAck.avgMs,
        sameOfferedRate: on.best.rate === off.best.rate,
        lastSeq,
        void: !(lastSeq !== undefined && lastSeq > 0),
      };
      say(`Socle timeline on / off: max DORA rate ${f2(timelineAb.rate)}x, mean latency D-O ${f2(timelineAb.doAvgMs)}x, R-A ${f2(timelineAb.raAvgMs)}x  (target: no measurable cost, ~1.00x within the run-to-run noise)`);
      if (!timelineAb.sameOfferedRate) say(`  the two best steps were at different offered rates (${on.best.rate}/s and ${off.best.rate}/s): their latencies are not at the same load`);
      if (QUICK) say("  --quick: the rate search stops within 15 %; a difference smaller than that is not resolved");
      say(`  timeline of the "socle" run: ${on.timeline?.note ?? "not read"}`);
      if (timelineAb.void) say("  the timeline recorded nothing (LastSeq 0 or unknown): this on/off comparison is VOID");
    } else if (on && off) say(`Socle timeline on / off: not computed (socle ${on.status}, socle-no-timeline ${off.status})`);
    say("\nLease persistence:");
    for (const r of results) if (r.persistence) say(`  ${r.name.padEnd(8)} ${r.persistence}`);
    if (mem) {
      say("");
      if (mem.rssKb !== undefined) {
        say(`Socle with ${mem.leases ?? LEASES_FOR_MEMORY} leases: RSS ${f1(mem.rssKb / 1024)} MB (peak ${f1((mem.peakKb ?? NaN) / 1024)} MB); store populated in ${(mem.populateMs / 1000).toFixed(1)} s`);
      }
      if (mem.note) say(`  ${mem.note}`);
    }
    say(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s; load average now ${loadText()}`);
    // Server and perfdhcp each want a CPU of their own: other work makes every figure lower and noisier.
    if ((loadavg()[1] ?? 0) > cpus().length * 0.75) say(`note: the machine was busy with other work (load ${loadText()} on ${cpus().length} CPUs); the figures are noisy, rerun on an idle machine`);
    console.log(
      JSON.stringify({
        bench: "dhcp",
        stepSeconds: STEP_SECONDS,
        clients: CLIENTS,
        servers: results.map((r) => ({
          name: r.name,
          status: r.status,
          offered: r.best?.rate,
          rate: r.best ? Number(f1(r.best.achieved)) : undefined,
          dropsPct: r.best ? Number(f2(r.best.dropsPct)) : undefined,
          doAvgMs: r.best?.report.discoverOffer.avgMs,
          doMaxMs: r.best?.report.discoverOffer.maxMs,
          raAvgMs: r.best?.report.requestAck.avgMs,
          raMaxMs: r.best?.report.requestAck.maxMs,
          avalancheSeconds: r.avalanche?.avalancheSeconds,
          avalanche: { fresh: burstJson(r.fresh), warm: burstJson(r.warm) },
          fixed: r.fixed.map((f) => ({
            offered: f.step.rate,
            rate: Number(f1(f.step.achieved)),
            dropsPct: Number(f2(f.step.dropsPct)),
            doAvgMs: f.step.report.discoverOffer.avgMs,
            doP99Ms: f.doP99Ms,
            raAvgMs: f.step.report.requestAck.avgMs,
            raP99Ms: f.raP99Ms,
            fsyncs: f.fsync?.count,
            fsyncMeanMs: f.fsync ? f.fsync.mean * 1000 : undefined,
            udpServer: f.udp?.server,
            udpClient: f.udp?.client,
          })),
          rssKb: r.rssKb,
          leasesPersisted: r.leasesPersisted,
        })),
        socleOverKea: rk,
        socleOverDnsmasq: rd,
        socleTimelineOnOverOff: timelineAb,
        socleMemory: mem && { leases: mem.leases, rssKb: mem.rssKb, peakKb: mem.peakKb },
      }),
    );
    return results.some((r) => r.status === "failed") ? 1 : 0;
  } finally {
    await cleanup();
  }
}

process.exit(await main());
