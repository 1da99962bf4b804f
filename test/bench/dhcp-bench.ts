// bun test/bench/dhcp-bench.ts [--quick] [--only kea,dnsmasq,socle,socle-no-timeline] [--step SECONDS]
//
// perfdhcp (Debian kea-admin) runs full DORA exchanges against Kea 2.2, dnsmasq and Socle, one
// after another, each inside network namespaces this bench creates:
//
//   server ns: <veth> 203.0.113.1/24 ---- client ns: <veth> 203.0.113.2/24, perfdhcp -l <veth>
//
// perfdhcp acts as a relay: it sends from 203.0.113.2:67 with giaddr 203.0.113.2, and the server
// answers giaddr:67, so the subnet served is giaddr's: 203.0.113.0/24, pool .10-.250. A /24 holds
// 241 addresses, so 200 simulated clients (-R) renew the leases they already hold: that measures
// sustained DORA. A burst of new clients is the avalanche scenario, run first on a fresh server.
// Server and perfdhcp are pinned to different CPUs (taskset), or the two compete for one.
//
// For each server: the highest offered rate with at most 1 % drops (doubling, then bisecting; a
// failed step is measured twice), its average and maximum latency, the avalanche time, RSS.
// Then Socle's memory with 100,000 leases in its store (synthetic records in 198.18.0.0/15 that
// never go on a network). Prints tables, the Socle/Kea and Socle/dnsmasq ratios, and a JSON line.
// "socle-no-timeline" (not run unless named in --only) is Socle with `--timeline-macs 0`, run right
// after "socle": the ratios of the two are what the boot timeline costs on the wire. The timeline
// of the "socle" run is read through the API before it stops (its LastSeq must be above 0, or the
// comparison is void: nothing was recorded).
// Stops by itself (about 10 minutes at most); removes its namespaces and kills what it started
// (by PID) at the end, on failure and on SIGINT/SIGTERM.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { NetLab, needsRoot } from "../helpers/netns.ts";
import { dnsmasq, kea, memoryOf, socle, socleCli, socleGet, socleNoTimeline, type RunningServer, type Segment, type Target } from "./dhcp-targets.ts";
import { populateLeases } from "./lease-memory.ts";
import { parsePerfdhcp, type PerfdhcpReport } from "./perfdhcp-report.ts";
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
const TOTAL_CAP_MS = (QUICK ? 4 : 10) * 60_000;
const CLIENTS = 200;
const LEASES_FOR_MEMORY = QUICK ? 20_000 : 100_000;
const MAX_DROPS_PCT = 1;
const DRAIN_MS = 1_500;
/** dnsmasq pings each address before offering it to a new client; on a busy machine that is slow. */
const PROBE_MS = 40_000;

const SERVER_ADDR = "203.0.113.1";
const CLIENT_ADDR = "203.0.113.2";
const SUBNET = "203.0.113.0/24";
const POOL = { start: "203.0.113.10", end: "203.0.113.250" };
const SERVER_CPU = "0";
const CLIENT_CPU = cpus().length > 1 ? "1" : "0";

type Step = PerfdhcpStep;

interface ServerResult {
  name: string;
  status: "ok" | "no answers" | "failed" | "skipped";
  note?: string;
  best?: Step;
  steps: Step[];
  cut?: string;
  avalanche?: PerfdhcpReport;
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
  }

  segment(dir: string): Segment {
    return { lab: this.lab, ns: this.srvNs, iface: this.srvIf, serverAddr: SERVER_ADDR, subnet: SUBNET, poolStart: POOL.start, poolEnd: POOL.end, cpu: SERVER_CPU, dir };
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

  measure(rate: number): Promise<Step> {
    return this.runner().measure(SERVER_ADDR, rate);
  }

  /** Start `target`, probe, avalanche, rate search; `remaining` counts it and the targets after it. */
  async run(target: Target, leaseCount: (srv: RunningServer, dir: string) => Promise<number | undefined>, remaining: number): Promise<ServerResult> {
    const res: ServerResult = { name: target.name, status: "skipped", steps: [] };
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
      // Avalanche first, while all CLIENTS are new to this server.
      const av = await this.perfdhcp(["--scenario", "avalanche", "-R", String(CLIENTS)], 30_000);
      try {
        res.avalanche = parsePerfdhcp(av);
        say(`  avalanche: ${CLIENTS} clients (${CLIENTS - 5} new, 5 known from the readiness probe) in ${f2(res.avalanche.avalancheSeconds ?? NaN)} s, ${res.avalanche.resent ?? "?"} requests resent`);
      } catch (err) {
        say(`  avalanche: not all ${CLIENTS} clients provisioned within 30 s (${(err as Error).message.slice(0, 120).split("\n")[0]})`);
      }
      // Warm-up, not measured: the first seconds after the burst are not steady state.
      await this.perfdhcp(["-r", "500", "-R", String(CLIENTS), "-p", "2"], 20_000);
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
      if (target === socle || target === socleNoTimeline) {
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

/** Leases the API reports (the CLI in the server namespace); port from the server's start line. */
async function socleLeaseCount(bench: Bench, dir: string, srv: RunningServer): Promise<number | undefined> {
  const port = Number(/"api":"https:\/\/127\.0\.0\.1:(\d+)\/api\/v3"/.exec(srv.output())?.[1]);
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
    ];
    const results: ServerResult[] = [];
    const selected = targets.filter(([t]) => ONLY.includes(t.name));
    for (const [i, [t, count]] of selected.entries()) results.push(await bench.run(t, count, selected.length - i));
    let mem: Awaited<ReturnType<Bench["socleMemory"]>> | undefined;
    if (ONLY.includes("socle")) {
      say(`\nsocle memory: ${LEASES_FOR_MEMORY} leases in the store (198.18.0.0/15 records, never on a network)`);
      mem = await bench.socleMemory(LEASES_FOR_MEMORY);
    }

    say(`\n=== DHCP DORA: highest offered rate with <= ${MAX_DROPS_PCT} % drops (perfdhcp, ${STEP_SECONDS} s steps) ===`);
    table(results);
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
