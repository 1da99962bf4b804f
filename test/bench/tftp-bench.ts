// bench:tftp — Socle's TFTP server against tftpd-hpa in the same run, over a veth pair:
//
//   server ns: <veth> 203.0.113.1/24  (Socle as test/bench/tftp-serve.ts, in.tftpd)
//   client ns: <veth> 203.0.113.2/24  (atftp, curl)
//
// Loopback hides what a link costs (no veth transmit, no softirq on the receiving side), so the
// bench measures over the veth by default; --loopback runs both servers and clients on 127.0.0.1
// with no namespaces (no root needed), for comparison with older figures.
//
// Scenarios (a 20 MB file; aggregate MB/s for parallel clients): 1 and 30 atftp clients at
// blksize 1468 and 512, one curl client, and one atftp client with windowsize 16 (tftpd-hpa
// ignores windowsize). Targets: >= 1.0x tftpd-hpa, >= 5x with windowsize 16. Each scenario runs
// --rounds times per server, interleaved, and the median is kept.
//
// Per scenario it prints both servers' CPU seconds (Socle: its process, all threads; tftpd-hpa:
// with the child it forks per transfer, sampled), Socle's retransmissions (its stats, read with
// SIGUSR1), and the kernel's UDP drop counters (nstat) in both namespaces during Socle's and
// tftpd-hpa's rounds. No taskset: both servers may use both cores, as in production.
// Outputs go to /dev/shm so 30 x 20 MB of writeback does not land on the disk during a round.
// Removes its namespaces, temp files and the processes it started (by PID) at the end, on failure
// and on SIGINT/SIGTERM.
//
// Needs: root (veth mode), iproute2, atftp, curl, in.tftpd (Debian tftpd-hpa; started here as a
// child, never as a daemon), nstat (iproute2).
// Usage: bun test/bench/tftp-bench.ts [--loopback] [--rounds N] [--mb N] [--parallel N]
//        [--workers N] [--spin N] [--only 1x1468,1x512,curl,30x1468,30x512,w16]

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { NetLab, needsRoot } from "../helpers/netns.ts";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const arg = (name: string, def: number, min = 1) => {
  const raw = flag(name);
  const v = raw === undefined ? def : Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`bench:tftp: ${name} ${JSON.stringify(raw)} is not a whole number >= ${min}`);
  return v;
};
const LOOPBACK = args.includes("--loopback");
const ROUNDS = arg("--rounds", 2);
const MB = arg("--mb", 20);
const PARALLEL = arg("--parallel", 30);
const WORKERS = flag("--workers") !== undefined ? arg("--workers", 0, 0) : undefined;
const SPIN = flag("--spin") !== undefined ? arg("--spin", 0, 0) : undefined;
const ONLY = flag("--only")?.split(",").map((s) => s.trim());
/** The whole run stops starting rounds after this (the bench lock is shared). */
const DEADLINE = performance.now() + 4.5 * 60_000;
const CLIENT_TIMEOUT_MS = 120_000;
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;
const BUN = process.execPath;

const SERVER_ADDR = LOOPBACK ? "127.0.0.1" : "203.0.113.1";
const CLIENT_ADDR = "203.0.113.2";
const SOCLE_PORT = 26969;
const HPA_PORT = 26970;

type Client = "atftp" | "curl";
interface Scenario {
  key: string;
  name: string;
  client: Client;
  clients: number;
  blksize: number;
  windowsize: number;
  target: number;
}
const ALL: Scenario[] = [
  { key: "1x1468", name: "1 client, blksize 1468 (atftp)", client: "atftp", clients: 1, blksize: 1468, windowsize: 1, target: 1.0 },
  { key: "1x512", name: "1 client, blksize 512 (atftp)", client: "atftp", clients: 1, blksize: 512, windowsize: 1, target: 1.0 },
  { key: "curl", name: "1 client, blksize 1468 (curl)", client: "curl", clients: 1, blksize: 1468, windowsize: 1, target: 1.0 },
  { key: "30x1468", name: `${PARALLEL} clients, blksize 1468 (atftp)`, client: "atftp", clients: PARALLEL, blksize: 1468, windowsize: 1, target: 1.0 },
  { key: "30x512", name: `${PARALLEL} clients, blksize 512 (atftp)`, client: "atftp", clients: PARALLEL, blksize: 512, windowsize: 1, target: 1.0 },
  { key: "w16", name: "1 client, windowsize 16 (atftp)", client: "atftp", clients: 1, blksize: 1468, windowsize: 16, target: 5.0 },
];
const scenarios = ONLY ? ALL.filter((s) => ONLY.includes(s.key)) : ALL;
if (ONLY && scenarios.length !== ONLY.length) throw new Error(`bench:tftp: --only ${ONLY.join(",")}: known scenarios are ${ALL.map((s) => s.key).join(",")}`);

const say = (s: string) => console.log(s);
const loadText = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pad = (s: string, n: number) => s.padEnd(n);

function clientArgv(sc: Scenario, port: number, dest: string): string[] {
  if (sc.client === "curl") return ["curl", "-sS", "--tftp-blksize", String(sc.blksize), "-o", dest, `tftp://${SERVER_ADDR}:${port}/big.bin`];
  const opts = ["--option", `blksize ${sc.blksize}`];
  if (sc.windowsize > 1) opts.push("--option", `windowsize ${sc.windowsize}`);
  return ["atftp", ...opts, "-g", "-r", "big.bin", "-l", dest, SERVER_ADDR, String(port)];
}

/** utime + stime of a process, all its threads, in seconds (proc(5) fields 14 and 15; 100 ticks/s). */
function processCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds used by tftpd-hpa and the child it forks for each transfer, sampled every 20 ms
 * (it ignores SIGCHLD, so the children's time never reaches its own counters). A child's last
 * few milliseconds between samples are missed: a slight undercount in tftpd-hpa's favour.
 */
function sampleTreeCpu(pid: number): () => number {
  const seen = new Map<number, number>();
  const base = processCpu(pid);
  const sample = () => {
    let kids: string[] = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    } catch {}
    for (const k of kids) seen.set(Number(k), Math.max(seen.get(Number(k)) ?? 0, processCpu(Number(k))));
  };
  const timer = setInterval(sample, 20);
  return () => {
    clearInterval(timer);
    sample();
    let total = processCpu(pid) - base;
    for (const v of seen.values()) total += v;
    return total;
  };
}

const DROP_COUNTERS = ["UdpInErrors", "UdpRcvbufErrors", "UdpSndbufErrors"] as const;
type Drops = Record<(typeof DROP_COUNTERS)[number], number>;
const noDrops = (): Drops => ({ UdpInErrors: 0, UdpRcvbufErrors: 0, UdpSndbufErrors: 0 });

/** A long-running server process: its PID, output, and a kill by PID. */
interface Proc {
  pid: number;
  output(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  kill(): Promise<void>;
}

/** Where things run: two namespaces joined by a veth, or this host's loopback. */
class Site {
  readonly lab = LOOPBACK ? undefined : new NetLab();
  srvNs = "";
  cliNs = "";
  private readonly started: Proc[] = [];

  async setup(): Promise<void> {
    if (!this.lab) return;
    this.srvNs = await this.lab.ns("ts");
    this.cliNs = await this.lab.ns("tc");
    const srvIf = this.lab.name("vs");
    const cliIf = this.lab.name("vc");
    await this.lab.veth({ ns: this.srvNs, name: srvIf }, { ns: this.cliNs, name: cliIf });
    await this.lab.addr(this.srvNs, srvIf, `${SERVER_ADDR}/24`);
    await this.lab.addr(this.cliNs, cliIf, `${CLIENT_ADDR}/24`);
  }

  /** A server process on the server's side. */
  serve(argv: string[]): Proc {
    if (this.lab) return this.lab.spawn(this.srvNs, argv, { PATH });
    const proc = Bun.spawn(argv, { env: { ...process.env, PATH }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    let out = "";
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
    };
    void collect(proc.stdout as ReadableStream<Uint8Array>);
    void collect(proc.stderr as ReadableStream<Uint8Array>);
    const p: Proc = {
      pid: proc.pid,
      output: () => out,
      async waitFor(re, timeoutMs = 10_000) {
        const end = Date.now() + timeoutMs;
        for (;;) {
          const m = re.exec(out);
          if (m) return m;
          if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > end) throw new Error(`${argv.join(" ")} did not print ${re}:\n${out}`);
          await Bun.sleep(20);
        }
      },
      async kill() {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill("SIGTERM");
        if (!(await Promise.race([proc.exited.then(() => true), Bun.sleep(2000).then(() => false)]))) proc.kill("SIGKILL");
        await proc.exited;
      },
    };
    this.started.push(p);
    return p;
  }

  /** A client process on the client's side (`ip netns exec` execs it: the PID is the client's). */
  client(argv: string[]): Subprocess<"ignore", "ignore", "pipe"> {
    const full = this.lab ? ["ip", "netns", "exec", this.cliNs, ...argv] : argv;
    return Bun.spawn(full, { stdin: "ignore", stdout: "ignore", stderr: "pipe", timeout: CLIENT_TIMEOUT_MS, env: { ...process.env, PATH } });
  }

  /** UDP drop counters (absolute) in the server's and the client's namespace. */
  async drops(): Promise<{ srv: Drops; cli: Drops }> {
    const read = async (ns: string): Promise<Drops> => {
      const argv = ["nstat", "-asz", ...DROP_COUNTERS];
      const r = ns ? await this.lab!.exec(ns, argv) : { stdout: await Bun.$`${argv}`.nothrow().quiet().text() };
      const d = noDrops();
      for (const line of r.stdout.split("\n")) {
        const [k, v] = line.trim().split(/\s+/);
        if (k && k in d) d[k as keyof Drops] = Number(v);
      }
      return d;
    };
    if (!this.lab) {
      const d = await read("");
      return { srv: d, cli: noDrops() }; // one namespace: every drop shows on the server's side
    }
    return { srv: await read(this.srvNs), cli: await read(this.cliNs) };
  }

  async cleanup(): Promise<void> {
    for (const p of this.started.splice(0)) await p.kill().catch(() => {});
    await this.lab?.cleanup();
  }
}

const diffDrops = (a: Drops, b: Drops): Drops => {
  const d = noDrops();
  for (const k of DROP_COUNTERS) d[k] = b[k] - a[k];
  return d;
};
const addDrops = (a: Drops, b: Drops): Drops => {
  const d = noDrops();
  for (const k of DROP_COUNTERS) d[k] = a[k] + b[k];
  return d;
};
const dropsText = (d: Drops) => `${d.UdpInErrors}/${d.UdpRcvbufErrors}/${d.UdpSndbufErrors}`;

interface SocleStats {
  completed: number;
  failed: number;
  retransmits: number;
  rssKb: number;
}

/** Socle's stats through SIGUSR1 (tftp-serve.ts prints one "stats" line per signal). */
async function socleStats(p: Proc): Promise<SocleStats> {
  const seen = p.output().split("\nstats ").length;
  process.kill(p.pid, "SIGUSR1");
  for (let i = 0; i < 200; i++) {
    const parts = p.output().split("\nstats ");
    if (parts.length > seen) return JSON.parse(parts[parts.length - 1]!.split("\n")[0]!) as SocleStats;
    await Bun.sleep(10);
  }
  throw new Error(`bench:tftp: Socle (pid ${p.pid}) printed no stats after SIGUSR1:\n${p.output()}`);
}

interface Result {
  sc: Scenario;
  hpa: number;
  socle: number;
  hpaCpu: number;
  socleCpu: number;
  retransmits: number;
  hpaDrops: Drops;
  socleDrops: Drops;
  rounds: number;
}

async function main(): Promise<number> {
  for (const bin of ["atftp", "curl", "in.tftpd", "nstat"]) {
    if (!Bun.which(bin, { PATH })) {
      say(`bench:tftp: "${bin}" not found (apt-get install atftp curl tftpd-hpa iproute2)`);
      return 2;
    }
  }
  if (!LOOPBACK) {
    const why = needsRoot();
    if (why) {
      say(`bench:tftp: the veth bench ${why}; run it as root, or pass --loopback to measure on 127.0.0.1`);
      return 2;
    }
  }
  const site = new Site();
  const dir = mkdtempSync("/dev/shm/socle-tftp-bench-");
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= site
      .cleanup()
      .catch((e) => say(`bench:tftp: cleanup: ${(e as Error).message}`))
      .finally(() => rmSync(dir, { recursive: true, force: true })));
  const onSignal = (sig: string) => {
    say(`\nbench:tftp: ${sig}, cleaning up`);
    void cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", () => onSignal("SIGINT"));
  process.once("SIGTERM", () => onSignal("SIGTERM"));

  const results: Result[] = [];
  let failed = false;
  let socleFinal: SocleStats | undefined;
  let socleProc: Proc | undefined;
  try {
    say(`bench:tftp: ${LOOPBACK ? "127.0.0.1 (loopback)" : `veth ${SERVER_ADDR} <- ${CLIENT_ADDR}`}, ${MB} MB, ${cpus().length} CPUs, Bun ${Bun.version}; uptime load ${loadText()}`);
    const root = join(dir, "root");
    const out = join(dir, "out");
    await Bun.$`mkdir -p ${root} ${out}`.quiet();
    // in.tftpd chroots to root and drops to "nobody": the tree must be readable by anyone.
    chmodSync(dir, 0o755);
    chmodSync(root, 0o755);
    const size = MB * 1_000_000;
    const content = new Uint8Array(size);
    for (let off = 0; off < size; off += 65536) crypto.getRandomValues(content.subarray(off, Math.min(size, off + 65536)));
    writeFileSync(join(root, "big.bin"), content, { mode: 0o644 });
    await site.setup();

    const socleArgv = [BUN, join(import.meta.dir, "tftp-serve.ts"), "--root", root, "--address", SERVER_ADDR, "--port", String(SOCLE_PORT)];
    if (WORKERS !== undefined) socleArgv.push("--workers", String(WORKERS));
    if (SPIN !== undefined) socleArgv.push("--spin", String(SPIN));
    const socle = (socleProc = site.serve(socleArgv));
    const hpa = site.serve(["in.tftpd", "--foreground", "--address", `${SERVER_ADDR}:${HPA_PORT}`, "--secure", root]);
    await socle.waitFor(/^ready \d+/m, 15_000);
    await Bun.sleep(300);
    if (!readFileSync(`/proc/${hpa.pid}/stat`, { encoding: "utf8", flag: "r" })) throw new Error("in.tftpd is not running");

    /** Seconds for `sc.clients` simultaneous downloads; every output is checked for size. */
    const timeRun = async (sc: Scenario, port: number): Promise<number> => {
      const t0 = performance.now();
      const procs = Array.from({ length: sc.clients }, (_, i) => site.client(clientArgv(sc, port, join(out, `o${i}`))));
      const codes = await Promise.all(procs.map((p) => p.exited));
      const secs = (performance.now() - t0) / 1000;
      for (let i = 0; i < sc.clients; i++) {
        const got = statSync(join(out, `o${i}`), { throwIfNoEntry: false })?.size;
        if (codes[i] !== 0 || got !== size) {
          const err = await new Response(procs[i]!.stderr).text();
          throw new Error(`bench:tftp: ${sc.client} client ${i} on port ${port} (${port === SOCLE_PORT ? "socle" : "tftpd-hpa"}) exited ${codes[i]} with ${got ?? "no"} bytes of ${size}: ${err.trim()}`);
        }
      }
      rmSync(out, { recursive: true, force: true });
      await Bun.$`mkdir -p ${out}`.quiet();
      return secs;
    };

    // Warm-up: page cache, Bun's JIT, the workers.
    await timeRun(ALL[0]!, SOCLE_PORT);
    await timeRun(ALL[0]!, HPA_PORT);

    for (const sc of scenarios) {
      const t = { hpa: [] as number[], socle: [] as number[], hpaCpu: [] as number[], socleCpu: [] as number[], retransmits: 0, hpaDrops: noDrops(), socleDrops: noDrops() };
      for (let r = 0; r < ROUNDS && (r === 0 || performance.now() < DEADLINE); r++) {
        // Interleaved, so drift (other load, thermal) hits both servers alike.
        let d0 = await site.drops();
        const hpaCpu = sampleTreeCpu(hpa.pid);
        t.hpa.push(await timeRun(sc, HPA_PORT));
        t.hpaCpu.push(hpaCpu());
        let d1 = await site.drops();
        t.hpaDrops = addDrops(t.hpaDrops, addDrops(diffDrops(d0.srv, d1.srv), diffDrops(d0.cli, d1.cli)));

        const s0 = await socleStats(socle);
        const c0 = processCpu(socle.pid);
        d0 = await site.drops();
        t.socle.push(await timeRun(sc, SOCLE_PORT));
        t.socleCpu.push(processCpu(socle.pid) - c0);
        d1 = await site.drops();
        t.socleDrops = addDrops(t.socleDrops, addDrops(diffDrops(d0.srv, d1.srv), diffDrops(d0.cli, d1.cli)));
        const s1 = await socleStats(socle);
        t.retransmits += s1.retransmits - s0.retransmits;
      }
      const mbps = (secs: number) => (size * sc.clients) / 1e6 / secs;
      const res: Result = {
        sc,
        hpa: mbps(median(t.hpa)),
        socle: mbps(median(t.socle)),
        hpaCpu: median(t.hpaCpu),
        socleCpu: median(t.socleCpu),
        retransmits: t.retransmits,
        hpaDrops: t.hpaDrops,
        socleDrops: t.socleDrops,
        rounds: t.hpa.length,
      };
      results.push(res);
      say(`  ${pad(sc.name, 36)} tftpd-hpa ${res.hpa.toFixed(1)} MB/s, socle ${res.socle.toFixed(1)} MB/s (${(res.socle / res.hpa).toFixed(2)}x), ${res.rounds} round(s)`);
    }
  } catch (e) {
    say(e instanceof Error ? e.message : String(e));
    failed = true;
  } finally {
    if (socleProc) socleFinal = await socleStats(socleProc).catch(() => undefined);
    await cleanup();
  }

  const workers = WORKERS ?? `default (${Math.min(8, navigator.hardwareConcurrency || 1)})`;
  say(`\nTFTP, link: ${LOOPBACK ? "loopback 127.0.0.1" : "veth (server and clients in separate namespaces)"}, ${MB} MB file, median of up to ${ROUNDS} rounds (MB/s, aggregate for parallel clients)`);
  say(`socle workers: ${workers}, spin: ${SPIN ?? "default"}; cpu = CPU seconds per round; drops = UdpInErrors/RcvbufErrors/SndbufErrors, both namespaces, all rounds`);
  say(`${pad("scenario", 34)} ${pad("tftpd-hpa", 10)} ${pad("socle", 8)} ${pad("ratio", 7)} ${pad("target", 12)} ${pad("hpa cpu", 8)} ${pad("socle cpu", 10)} ${pad("retrans", 8)} ${pad("hpa drops", 10)} socle drops`);
  for (const r of results) {
    const ratio = r.socle / r.hpa;
    const ok = ratio >= r.sc.target;
    if (!ok) failed = true;
    say(
      `${pad(r.sc.name, 34)} ${pad(r.hpa.toFixed(1), 10)} ${pad(r.socle.toFixed(1), 8)} ${pad(ratio.toFixed(2) + "x", 7)} ${pad(`>= ${r.sc.target.toFixed(1)}x ${ok ? "ok" : "BELOW"}`, 12)} ${pad(r.hpaCpu.toFixed(2), 8)} ${pad(r.socleCpu.toFixed(2), 10)} ${pad(String(r.retransmits), 8)} ${pad(dropsText(r.hpaDrops), 10)} ${dropsText(r.socleDrops)}`,
    );
  }
  if (socleFinal) say(`socle: ${socleFinal.completed} transfers, ${socleFinal.failed} failed, ${socleFinal.retransmits} retransmissions, RSS ${(socleFinal.rssKb / 1024).toFixed(1)} MB`);
  say(`load average now ${loadText()}`);
  if ((loadavg()[0] ?? 0) > cpus().length * 1.5) say(`note: the machine was busy (load ${loadText()} on ${cpus().length} CPUs); the figures are noisy`);
  say(
    JSON.stringify({
      bench: "tftp",
      link: LOOPBACK ? "loopback" : "veth",
      mb: MB,
      rounds: ROUNDS,
      workers: WORKERS ?? null,
      spin: SPIN ?? null,
      scenarios: results.map((r) => ({
        key: r.sc.key,
        clients: r.sc.clients,
        blksize: r.sc.blksize,
        windowsize: r.sc.windowsize,
        hpaMBps: Number(r.hpa.toFixed(1)),
        socleMBps: Number(r.socle.toFixed(1)),
        ratio: Number((r.socle / r.hpa).toFixed(3)),
        target: r.sc.target,
        hpaCpu: r.hpaCpu,
        socleCpu: r.socleCpu,
        retransmits: r.retransmits,
        hpaDrops: r.hpaDrops,
        socleDrops: r.socleDrops,
        rounds: r.rounds,
      })),
      socle: socleFinal ?? null,
    }),
  );
  return failed ? 1 : 0;
}

process.exit(await main());
