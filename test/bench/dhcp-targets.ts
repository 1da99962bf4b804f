// The three DHCP servers the bench compares, each started inside the server namespace and pinned
// to one CPU: Kea 2.2 (memfile, lease file on), dnsmasq, and Socle (`bun src/main.ts serve`, the
// subnet created through its API with the CLI, as an operator would), also with its boot timeline
// off (`--timeline-macs 0`) to show what the timeline costs.

import { cpus } from "node:os";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { NetLab, Spawned } from "../helpers/netns.ts";

export const ROOT = resolve(import.meta.dir, "../..");

// The benches' shared topology: the server's namespace holds SERVER_ADDR, the client's (perfdhcp,
// relaying from CLIENT_ADDR) the other end of the veth; the subnet served is CLIENT_ADDR's. The
// server and perfdhcp are pinned to different CPUs, or the two compete for one.
export const SERVER_ADDR = "203.0.113.1";
export const CLIENT_ADDR = "203.0.113.2";
export const SUBNET = "203.0.113.0/24";
export const POOL = { start: "203.0.113.10", end: "203.0.113.250" };
export const SERVER_CPU = "0";
export const CLIENT_CPU = cpus().length > 1 ? "1" : "0";
export const BUN = process.execPath;
const SOCLE_PASSWORD = "bench-admin-horse-9";

/** Where and what to serve. */
export interface Segment {
  lab: NetLab;
  ns: string;
  iface: string;
  /** The server's address on iface. */
  serverAddr: string;
  /** CIDR served (the giaddr perfdhcp uses lies in it). */
  subnet: string;
  poolStart: string;
  poolEnd: string;
  /** CPU list for taskset. */
  cpu: string;
  /** Scratch directory for this server's config, leases and data. */
  dir: string;
  /**
   * A second relayed subnet, served as well (its giaddr is another address of the client's
   * interface): a burst of new clients after the first one's pool is taken (the warm avalanche).
   */
  second?: Pool;
}

/** A subnet (CIDR) and its dynamic range. */
export interface Pool {
  subnet: string;
  poolStart: string;
  poolEnd: string;
}

export interface RunningServer {
  name: string;
  pid: number;
  /** How this server keeps its leases across a crash. */
  persistence: string;
  output(): string;
  stop(): Promise<void>;
}

export interface Target {
  name: string;
  /** Why this target cannot run here (missing binary), or undefined. */
  missing(): string | undefined;
  start(seg: Segment): Promise<RunningServer>;
}

const which = (bin: string, pkg: string) => (Bun.which(bin) ? undefined : `${bin} not found (apt-get install ${pkg})`);

function running(name: string, proc: Spawned, persistence: string): RunningServer {
  return { name, pid: proc.pid, persistence, output: () => proc.output(), stop: () => proc.kill(5_000) };
}

/** Fail early, with the output, when a server exits during start-up. */
async function settle(name: string, proc: Spawned, ms: number): Promise<void> {
  await Promise.race([proc.proc.exited, Bun.sleep(ms)]);
  if (proc.proc.exitCode !== null || proc.proc.signalCode !== null) {
    throw new Error(`${name} exited at start (${proc.proc.exitCode ?? proc.proc.signalCode}):\n${proc.output().slice(-2000)}`);
  }
}

export const kea: Target = {
  name: "kea",
  missing: () => which("kea-dhcp4", "kea-dhcp4-server"),
  async start(seg) {
    const leaseFile = join(seg.dir, "kea-leases4.csv");
    const config = {
      Dhcp4: {
        "interfaces-config": { interfaces: [seg.iface], "dhcp-socket-type": "udp" },
        // Lease persistence on; lfc-interval 0 turns off the periodic lease-file cleanup.
        "lease-database": { type: "memfile", persist: true, name: leaseFile, "lfc-interval": 0 },
        "valid-lifetime": 3600,
        subnet4: [seg, ...(seg.second ? [seg.second] : [])].map((p, i) => ({ id: i + 1, subnet: p.subnet, pools: [{ pool: `${p.poolStart} - ${p.poolEnd}` }] })),
        // WARN: Kea logs every lease at INFO, which would measure its logger.
        loggers: [{ name: "kea-dhcp4", output_options: [{ output: "stdout" }], severity: "WARN" }],
      },
    };
    const cfgFile = join(seg.dir, "kea-dhcp4.json");
    writeFileSync(cfgFile, JSON.stringify(config, null, 2));
    const proc = seg.lab.spawn(seg.ns, ["taskset", "-c", seg.cpu, "kea-dhcp4", "-c", cfgFile], {
      KEA_LOCKFILE_DIR: seg.dir,
      KEA_PIDFILE_DIR: seg.dir,
    });
    await settle("kea-dhcp4", proc, 500);
    return running("kea", proc, `memfile CSV ${leaseFile}: one line appended per lease change, no fsync`);
  },
};

export const dnsmasq: Target = {
  name: "dnsmasq",
  missing: () => which("dnsmasq", "dnsmasq-base"),
  async start(seg) {
    const leaseFile = join(seg.dir, "dnsmasq.leases");
    const range = (p: Pool) => `--dhcp-range=${p.poolStart},${p.poolEnd},${prefixToMask(Number(p.subnet.split("/")[1]))},1h`;
    const argv = [
      "taskset", "-c", seg.cpu, "dnsmasq",
      "--no-daemon", "--conf-file=/dev/null", "--port=0", // no DNS
      `--interface=${seg.iface}`, "--bind-interfaces",
      range(seg), ...(seg.second ? [range(seg.second)] : []),
      `--dhcp-leasefile=${leaseFile}`, "--dhcp-authoritative",
      `--pid-file=${join(seg.dir, "dnsmasq.pid")}`,
      "--log-facility=-", "--quiet-dhcp", // no line per packet, as Kea at WARN
    ];
    const proc = seg.lab.spawn(seg.ns, argv);
    await settle("dnsmasq", proc, 500);
    return running("dnsmasq", proc, `lease file ${leaseFile} rewritten and fsync'd on changes`);
  },
};

/**
 * Socle with `extra` serve flags, under `name`; run from source (`bun src/main.ts`), or with
 * `compiled` as the executable build/compile.ts makes, which is what an operator runs.
 */
function socleTarget(name: string, extra: readonly string[], compiled = false): Target {
  return {
    name,
    missing: () => undefined,
    async start(seg) {
      const dataDir = join(seg.dir, "socle-data");
      const command = compiled ? [await compileSocle(seg.dir)] : [BUN, join(ROOT, "src/main.ts")];
      const proc = seg.lab.spawn(
        seg.ns,
        [
          "taskset", "-c", seg.cpu, ...command, "serve",
          "--data-dir", dataDir, "--dhcp-interfaces", seg.iface,
          "--disable-tftp", "--disable-static", "--disable-binl",
          "--api-listen", "127.0.0.1", "--api-port", "0",
          "--log-format", "json", "--log-level", "info", // per-packet lines are debug
          ...extra,
        ],
        { SOCLE_ADMIN_PASSWORD: SOCLE_PASSWORD },
      );
      const m = await proc.waitFor(/"api":"https:\/\/127\.0\.0\.1:(\d+)\/api\/v3"/, 30_000);
      const port = Number(m[1]);
      for (const [i, p] of [seg, ...(seg.second ? [seg.second] : [])].entries()) {
        const subnet = {
          Name: i === 0 ? "bench" : `bench-${i + 1}`,
          Subnet: p.subnet,
          ActiveStart: p.poolStart,
          ActiveEnd: p.poolEnd,
          ActiveLeaseTime: 3600,
        };
        const r = await socleCli(seg, dataDir, port, ["subnets", "create", JSON.stringify(subnet)]);
        if (r.code !== 0) throw new Error(`socle subnets create failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
      }
      return running(name, proc, "store journal appended by O_DSYNC writes (fdatasync's guarantee; group commit: one per batch) before each DHCPACK is sent");
    },
  };
}

export const socle: Target = socleTarget("socle", []);
/** Socle as shipped: the compiled executable (built into the server's scratch directory). */
export const socleCompiled: Target = socleTarget("socle-compiled", [], true);

/** Build this tree's executable for this machine into `dir` (build/compile.ts); its path. */
async function compileSocle(dir: string): Promise<string> {
  const arch = process.arch === "arm64" ? "arm64" : "amd64";
  const p = Bun.spawn([BUN, join(ROOT, "build/compile.ts"), "--target", arch, "--outdir", dir], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`build/compile.ts failed (${code}): ${err.trim()}`);
  return join(dir, `socle-linux-${arch}`);
}
/** Socle with the boot timeline off: the other half of the timeline's A/B. */
export const socleNoTimeline: Target = socleTarget("socle-no-timeline", ["--timeline-macs", "0"]);

/**
 * Bun's own floor: the codec on one UDP socket, answering from a hash of the MAC, with no lease
 * engine, store or flush (dhcp-floor.ts). Not a DHCP server; the latency it adds over Kea is what
 * the runtime's UDP path costs before Socle does any work.
 */
export const bunFloor: Target = {
  name: "bun-floor",
  missing: () => undefined,
  async start(seg) {
    const proc = seg.lab.spawn(seg.ns, ["taskset", "-c", seg.cpu, BUN, join(ROOT, "test/bench/dhcp-floor.ts"), seg.serverAddr, seg.poolStart]);
    await settle("dhcp-floor", proc, 500);
    return running("bun-floor", proc, "none: answers from a hash of the MAC and keeps nothing");
  },
};

/** Run the Socle CLI inside the server namespace (the API listens on that namespace's loopback). */
export function socleCli(seg: Segment, dataDir: string, port: number, args: string[]) {
  const argv = [BUN, join(ROOT, "src/main.ts"), "-E", `https://127.0.0.1:${port}`, "--ca-file", join(dataDir, "pki", "ca.pem"), "-U", "admin", "-P", SOCLE_PASSWORD, ...args];
  return seg.lab.exec(seg.ns, argv, 30_000);
}

/** GET an API path with curl inside the server namespace: the HTTP status and the body. */
export async function socleGet(seg: Segment, dataDir: string, port: number, path: string): Promise<{ status: number; body: string }> {
  const argv = ["curl", "-sS", "--max-time", "20", "--cacert", join(dataDir, "pki", "ca.pem"), "-u", `admin:${SOCLE_PASSWORD}`, "-w", "\n%{http_code}", `https://127.0.0.1:${port}${path}`];
  const r = await seg.lab.exec(seg.ns, argv, 30_000);
  if (r.code !== 0) throw new Error(`curl ${path} failed (${r.code}): ${r.stderr.trim()}`);
  const cut = r.stdout.lastIndexOf("\n");
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

export function prefixToMask(prefix: number): string {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`invalid prefix length "${prefix}"`);
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 255).join(".");
}

/** Resident memory of a process in KiB (VmRSS) and its peak (VmHWM), from /proc. */
export function memoryOf(pid: number): { rssKb: number; peakKb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { rssKb: kb("VmRSS"), peakKb: kb("VmHWM") };
  } catch {
    return undefined;
  }
}
