// bench:storm — N VMs (default 8) network-booting at once in the QEMU lab (test/lab), Socle against
// the lab's reference server (dnsmasq DHCP+TFTP, ref-http.py) in the same run:
//
//   1. reference: ref-server.sh + boot-storm.sh N --fw mix. iPXE fetches boot.ipxe, which loads
//      the lab's kernel and initramfs (build-initramfs.sh); the initramfs calls back
//      http://<server>/ok and prints E2E-RESULT: PASS.
//   2. Socle, same payload: a boot environment "lab-callback" whose kernel and initrd are the
//      lab's (uploaded through the API), calling back to ref-http.py on port 80 beside Socle (the
//      same sink as the reference's). unknownBootEnv=lab-callback. This row carries the target:
//      time to the last PASS at most 1.1x the reference's.
//   3. Socle to registration: unknownBootEnv=discovery, N more VMs (a fresh MAC prefix), each then
//      checked through the API (one machine per MAC, an address from the pool, an inventory).
//      Its ratio against 1. is informative: discovery is a bigger image doing more work.
//
// Per run: wall to the last PASS (boot-storm.sh's wall), failures, the peak summed QEMU RSS and
// host CPU (boot-storm.sh's sampler), and the server's own CPU seconds and peak RSS (dnsmasq +
// ref-http.py; Socle + the callback sink). Per phase, the median and slowest VM, in seconds
// since the storm started, from the servers' request logs (both log a GET when they begin the
// answer): first boot script, kernel, initrd, callback (or the registration, from Socle's
// timeline API), PASS. Then a JSON line. Exit 0 when every VM passed (and registered), 1 when
// one did not, 2 when the bench could not run; the ratio is printed, not asserted.
//
// Holds /tmp/socle-bench.lock for the whole run (QEMU uses both cores; SOCLE_BENCH_LOCK=0 when
// the caller holds it already). Runs in its own namespaces (socle-storm-srv, socle-storm-vm,
// state /run/socle-storm); lab-down.sh removes them, and every process in them, on every exit
// path. Logs (serial consoles, server logs) are kept in the directory printed at the end.
//
// Needs root and the lab's packages (test/lab/install-deps.sh: qemu, ovmf, ipxe, dnsmasq,
// busybox-static, cpio, curl, python3; tcpdump for --pcap) and assets/boot (npm run assets).
// About 6 minutes, most of it three storms of 45-90 s under TCG.
// --pcap: tcpdump of the DHCP packets on the server's bridge port (cheap: a few per VM), and the
// DHCP latencies of both servers and their clients from it.
// --socle-first: Socle's same-payload storm before the reference's (Socle is stopped meanwhile).
// Usage: bun test/bench/storm-bench.ts [--vms N] [--timeout S] [--only ref,socle,register] [--pcap]
//        [--socle-first]

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { LAB_DIR, LabSocle, ROOT, lab, labUp, sh, skipReason } from "../e2e/lab.ts";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const whole = (name: string, def: number, min: number, max: number) => {
  const raw = flag(name);
  const v = raw === undefined ? def : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) die(`${name} ${JSON.stringify(raw)} is not a whole number from ${min} to ${max}`);
  return v;
};
function die(msg: string): never {
  console.error(`bench:storm: ${msg}`);
  process.exit(2);
}

const VMS = whole("--vms", 8, 1, 30);
const VM_TIMEOUT_S = whole("--timeout", 240, 30, 900);
const RUNS = ["ref", "socle", "register"] as const;
type RunName = (typeof RUNS)[number];
const ONLY = (flag("--only") ?? RUNS.join(",")).split(",").map((s) => s.trim());
for (const o of ONLY) if (!(RUNS as readonly string[]).includes(o)) die(`--only: ${JSON.stringify(o)} is not one of ${RUNS.join(", ")}`);
/** tcpdump of the DHCP packets on the server's bridge port, for the DHCP latencies of both servers. */
const PCAP = args.includes("--pcap");
/** Socle's same-payload storm before the reference's (the runs' order as a check of the host's drift). */
const SOCLE_FIRST = args.includes("--socle-first");
const TARGET = 1.1;
const LOCK = "/tmp/socle-bench.lock";
const PATH = `${process.env.PATH}:/usr/sbin:/sbin`;

/** This bench's namespaces and state: the e2e suite and other users of the lab keep theirs. */
const ENV: Record<string, string> = {
  PATH,
  E2E_NS_SRV: process.env.STORM_NS_SRV ?? "socle-storm-srv",
  E2E_NS_VM: process.env.STORM_NS_VM ?? "socle-storm-vm",
  E2E_STATE: process.env.STORM_STATE ?? "/run/socle-storm",
};
/** A fresh MAC prefix per run: no lease or machine of one run is seen by the next. */
const MAC_PREFIX: Record<RunName, string> = { ref: "52:54:00:e2:a1", socle: "52:54:00:e2:b1", register: "52:54:00:e2:c1" };
const POOL = /^198\.51\.100\.(1[0-9][0-9])$/;

// --- preconditions ---------------------------------------------------------------------------

function missing(): string | undefined {
  const lab = skipReason();
  if (lab) return lab;
  for (const f of ["/usr/sbin/dnsmasq", "/usr/lib/ipxe/undionly.kpxe", "/usr/lib/ipxe/ipxe.efi", "/bin/busybox", "/usr/bin/cpio", "/usr/bin/flock"]) {
    if (!existsSync(f)) return `${f} is missing (run ${LAB_DIR}/install-deps.sh)`;
  }
  if (Bun.which("python3", { PATH }) === null) return `python3 is missing (the reference HTTP server, ${LAB_DIR}/ref-http.py)`;
  return undefined;
}

/** The interpreter itself, not a version manager's shim (pyenv's takes seconds on a loaded machine). */
function python(): string {
  const r = Bun.spawnSync(["python3", "-c", "import sys; print(sys.executable)"], { env: { ...process.env, PATH } });
  const exe = r.stdout.toString().trim();
  return r.exitCode === 0 && exe !== "" ? exe : "python3";
}

// --- small process helpers -------------------------------------------------------------------

const CLK_TCK = 100;

/** utime+stime (ticks) and VmHWM (kB) of `pid` and every live descendant. */
function treeUsage(roots: number[]): { ticks: number; hwmKb: number } {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(d), Number(f[1]));
    } catch {}
  }
  const inTree = (p: number): boolean => {
    for (let q: number | undefined = p, hops = 0; q !== undefined && q > 1 && hops < 64; q = parent.get(q), hops++) if (roots.includes(q)) return true;
    return false;
  };
  let ticks = 0;
  let hwmKb = 0;
  for (const p of parent.keys()) {
    if (!inTree(p)) continue;
    try {
      const st = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
      const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      hwmKb += m ? Number(m[1]) : 0;
    } catch {}
  }
  return { ticks, hwmKb };
}

const otherQemus = () =>
  readdirSync("/proc").filter((d) => {
    if (!/^\d+$/.test(d)) return false;
    try {
      return readFileSync(`/proc/${d}/comm`, "utf8").trim().startsWith("qemu-system");
    } catch {
      return false;
    }
  }).length;

const uptime = () => `load average ${loadavg().map((l) => l.toFixed(2)).join(", ")} (${cpus().length} cores)`;

/** The bench lock, held by a flock child until our end (its stdin closes when we die). */
async function takeLock(): Promise<Subprocess<"pipe", "pipe", "inherit"> | undefined> {
  if (process.env.SOCLE_BENCH_LOCK === "0") return undefined;
  const p = Bun.spawn(["flock", "-w", "1800", LOCK, "sh", "-c", "echo locked; exec cat >/dev/null"], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const waiting = setTimeout(() => console.log(`bench:storm: waiting for ${LOCK} (another benchmark is measuring)`), 2000);
  const reader = p.stdout.getReader();
  const first = await reader.read();
  clearTimeout(waiting);
  if (first.done || !new TextDecoder().decode(first.value).includes("locked")) die(`could not take ${LOCK} (flock waits up to 30 minutes)`);
  reader.releaseLock();
  return p;
}

// --- one storm -------------------------------------------------------------------------------

interface VmResult {
  mac: string;
  fw: string;
  rc: number;
  elapsedS: number | undefined;
}

interface Storm {
  run: RunName;
  code: number;
  t0: number;
  wallS: number;
  vms: VmResult[];
  passed: number;
  failed: number;
  qemuPeakMiB: number;
  hostCpuPct: number;
  summary: string;
  out: string;
  dhcp?: DhcpLatencies;
}

let stormProc: Subprocess | undefined;

async function storm(run: RunName, outdir: string, fwMix = "mix"): Promise<Storm> {
  mkdirSync(outdir, { recursive: true });
  const cmd = lab("boot-storm.sh", String(VMS), "--fw", fwMix, "--timeout", String(VM_TIMEOUT_S), "--outdir", outdir, "--mac-prefix", MAC_PREFIX[run]);
  const pcap = join(outdir, "dhcp.pcap");
  if (PCAP) await startCapture(pcap);
  const t0 = Date.now();
  const p = Bun.spawn(cmd, { env: { ...process.env, ...ENV }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  stormProc = p;
  const timer = setTimeout(() => p.kill("SIGTERM"), (VM_TIMEOUT_S + 60) * 1000);
  const [o, e, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  stormProc = undefined;
  const dhcp = PCAP ? (await stopCapture(), dhcpLatencies(await readCapture(pcap))) : undefined;
  writeFileSync(join(outdir, "boot-storm.out"), o + e);
  const vms: VmResult[] = [];
  for (const m of o.matchAll(/^vm \d+ mac (\S+) fw (\S+): rc=(\d+)(?: elapsed_s=([\d.]+))?/gm)) {
    vms.push({ mac: m[1]!, fw: m[2]!, rc: Number(m[3]), elapsedS: m[4] === undefined ? undefined : Number(m[4]) });
  }
  const s = /storm: (\d+) VMs, (\d+) passed, (\d+) failed, wall ([\d.]+)s, peak qemu RSS total (\d+) MiB, host CPU busy (\d+)%/.exec(o);
  if (!s) throw new Error(`boot-storm.sh printed no summary (exit ${code}):\n${(o + e).slice(-3000)}`);
  return {
    run, code, t0, vms,
    passed: Number(s[2]), failed: Number(s[3]), wallS: Number(s[4]),
    qemuPeakMiB: Number(s[5]), hostCpuPct: Number(s[6]), summary: s[0], out: o, dhcp,
  };
}

// --- DHCP latencies from a capture (--pcap) --------------------------------------------------

let capture: Subprocess<"ignore", "ignore", "pipe"> | undefined;

/** tcpdump on the bridge's port to the server: every packet to or from the server passes it. */
async function startCapture(file: string): Promise<void> {
  const iface = process.env.E2E_UPLINK_IF ?? "srvport";
  capture = Bun.spawn(["ip", "netns", "exec", ENV.E2E_NS_VM!, "tcpdump", "-i", iface, "-n", "-U", "-s", "600", "-w", file, "udp port 67 or udp port 68"], {
    env: { ...process.env, PATH }, stdout: "ignore", stderr: "pipe", stdin: "ignore",
  });
  await Bun.sleep(500); // tcpdump opens the interface
  if (capture.exitCode !== null) throw new Error(`tcpdump on ${iface} exited: ${await new Response(capture.stderr).text()}`);
}

async function stopCapture(): Promise<void> {
  const p = capture;
  capture = undefined;
  if (!p || p.exitCode !== null) return;
  p.kill("SIGTERM");
  if (!(await Promise.race([p.exited.then(() => true), Bun.sleep(3000).then(() => false)]))) p.kill("SIGKILL");
}

interface DhcpPacket {
  at: number;
  mac: string;
  type: string;
}

async function readCapture(file: string): Promise<DhcpPacket[]> {
  if (!existsSync(file)) return [];
  const r = await sh(["tcpdump", "-tt", "-n", "-v", "-r", file], 60_000, ENV);
  const out: DhcpPacket[] = [];
  // One packet: a line starting with its time, then indented lines (the client's MAC, option 53).
  for (const rec of r.out.split(/\n(?=\d+\.\d+ )/)) {
    const at = /^(\d+\.\d+) /.exec(rec);
    const mac = /Client-Ethernet-Address (\S+)/.exec(rec);
    const type = /DHCP-Message[^:]*: (\w+)/.exec(rec);
    if (at && mac && type) out.push({ at: Number(at[1]) * 1000, mac: mac[1]!.toLowerCase(), type: type[1]! });
  }
  return out;
}

/** Milliseconds, over every exchange of the storm: the server's answer, and the client's next step. */
interface DhcpLatencies {
  discoverToOffer: number[];
  offerToRequest: number[];
  requestToAck: number[];
  discovers: number;
}

function dhcpLatencies(packets: DhcpPacket[]): DhcpLatencies {
  const out: DhcpLatencies = { discoverToOffer: [], offerToRequest: [], requestToAck: [], discovers: 0 };
  const byMac = new Map<string, DhcpPacket[]>();
  for (const p of packets) byMac.set(p.mac, [...(byMac.get(p.mac) ?? []), p]);
  for (const list of byMac.values()) {
    list.sort((a, b) => a.at - b.at);
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      const next = (type: string) => list.slice(i + 1).find((q) => q.type === type);
      if (p.type === "Discover") {
        out.discovers++;
        const o = next("Offer");
        if (o) out.discoverToOffer.push(o.at - p.at);
      } else if (p.type === "Offer") {
        const q = list.slice(i + 1).find((x) => x.type === "Request" || x.type === "Discover");
        if (q?.type === "Request") out.offerToRequest.push(q.at - p.at);
      } else if (p.type === "Request") {
        const a = next("ACK");
        if (a) out.requestToAck.push(a.at - p.at);
      }
    }
  }
  return out;
}

// --- per-VM phases from the servers' logs ----------------------------------------------------

const PHASES = ["script", "kernel", "initrd", "done", "pass"] as const;
type Phase = (typeof PHASES)[number];
/** Seconds since the storm started, per MAC and phase (first occurrence). */
type Phases = Map<string, Partial<Record<Phase, number>>>;

interface Request {
  at: number;
  ip: string;
  path: string;
}

/** ref-http.py's log: "<epoch> <client> "GET /path HTTP/1.1" 200 -". */
function refRequests(log: string): Request[] {
  const out: Request[] = [];
  for (const m of log.matchAll(/^(\d+\.\d+) (\S+) "GET (\S+) HTTP/gm)) out.push({ at: Number(m[1]) * 1000, ip: m[2]!, path: m[3]!.replace(/^\//, "").replace(/\?.*$/, "") });
  return out;
}

/** Socle's debug log: "<ISO time> DEBUG http: GET path=<p> remote=<ip> status=2xx". */
function socleRequests(log: string): Request[] {
  const out: Request[] = [];
  for (const m of log.matchAll(/^(\S+Z) DEBUG http: GET path=(\S+) remote=(\S+) status=2\d\d/gm)) out.push({ at: Date.parse(m[1]!), ip: m[3]!, path: m[2]! });
  return out;
}

/** The sink's callbacks.log: "<epoch> mac=<mac> ip=<ip> from=<ip>". */
function callbacks(log: string): Map<string, { at: number; ip: string }> {
  const out = new Map<string, { at: number; ip: string }>();
  for (const m of log.matchAll(/^(\d+\.\d+) mac=(\S+) ip=(\S*) from=(\S+)/gm)) if (!out.has(m[2]!)) out.set(m[2]!, { at: Number(m[1]) * 1000, ip: m[4]! });
  return out;
}

function phasesOf(s: Storm, ipOf: Map<string, string>, requests: Request[], done: Map<string, number>): Phases {
  const out: Phases = new Map();
  const since = (t: number) => Math.round((t - s.t0) / 100) / 10;
  for (const vm of s.vms) {
    const p: Partial<Record<Phase, number>> = {};
    const ip = ipOf.get(vm.mac);
    const first = (test: (path: string) => boolean) => requests.find((r) => r.ip === ip && r.at >= s.t0 && test(r.path));
    const script = first((x) => x === "boot.ipxe" || x === "default.ipxe");
    const kernel = first((x) => x.endsWith("vmlinuz"));
    const initrd = first((x) => x.endsWith("initrd.img"));
    if (ip && script) p.script = since(script.at);
    if (ip && kernel) p.kernel = since(kernel.at);
    if (ip && initrd) p.initrd = since(initrd.at);
    const d = done.get(vm.mac);
    if (d !== undefined) p.done = since(d);
    if (vm.rc === 0 && vm.elapsedS !== undefined) p.pass = vm.elapsedS;
    out.set(vm.mac, p);
  }
  return out;
}

// --- the runs --------------------------------------------------------------------------------

interface Row {
  storm: Storm;
  serverCpuS: number;
  serverHwmMiB: number;
  phases: Phases;
  registered?: number;
  problems: string[];
}

const logDir = join(process.env.TMPDIR ?? "/tmp", `socle-storm-${new Date().toISOString().replace(/[:.]/g, "-")}`);
let socle: LabSocle | undefined;
let sink: Subprocess | undefined;
let cleaning: Promise<void> | undefined;

async function stopSink(): Promise<void> {
  const p = sink;
  sink = undefined;
  if (!p || p.exitCode !== null) return;
  p.kill("SIGTERM");
  if (!(await Promise.race([p.exited.then(() => true), Bun.sleep(3000).then(() => false)]))) p.kill("SIGKILL");
}

/** Once, whoever asks first (a signal or the end of main); later callers wait for the same end. */
function cleanup(): Promise<void> {
  cleaning ??= stopEverything();
  return cleaning;
}

async function stopEverything(): Promise<void> {
  if (stormProc && stormProc.exitCode === null) {
    stormProc.kill("SIGTERM"); // its trap stops the vm-boot.sh it started, and they their QEMU
    await Promise.race([stormProc.exited, Bun.sleep(5000)]);
  }
  await stopCapture();
  await socle?.stop().catch(() => {});
  await stopSink();
  await sh(lab("ref-server.sh", "stop"), 30_000, ENV).catch(() => undefined);
  // Every process left in the bench's namespaces (by PID), then the namespaces.
  const down = await sh(lab("lab-down.sh"), 60_000, ENV);
  if (down.code !== 0) console.error(`bench:storm: lab-down.sh failed (${down.code}): ${down.out}`);
  // lab-down.sh removes only the state dirs it knows by name (/run/pxe-e2e*, /tmp/*); this
  // bench's own (or one named like it), never an arbitrary STORM_STATE.
  if (/^\/run\/socle-storm[\w.-]*$/.test(ENV.E2E_STATE!)) rmSync(ENV.E2E_STATE!, { recursive: true, force: true });
  if (socle) {
    if (existsSync(socle.logFile)) copyFileSync(socle.logFile, join(logDir, "socle.log"));
    socle.remove();
  }
}

async function buildPayload(): Promise<string> {
  const dir = join(ROOT, ".cache", "storm-boot");
  if (existsSync(join(dir, "vmlinuz")) && existsSync(join(dir, "initrd.img"))) return dir;
  // The kernel package `npm run assets` already downloaded, when there is one: no apt needed.
  const debs = join(ROOT, ".cache", "assets", "debs", "amd64");
  const deb = existsSync(debs) ? readdirSync(debs).find((f) => /^linux-image-[0-9].*-amd64_.*\.deb$/.test(f)) : undefined;
  const r = await sh(lab("build-initramfs.sh", dir, ...(deb ? ["--kernel-deb", join(debs, deb)] : [])), 600_000, ENV);
  if (r.code !== 0) throw new Error(`build-initramfs.sh failed (${r.code}):\n${r.out.slice(-3000)}`);
  return dir;
}

async function runReference(payload: string): Promise<Row> {
  const state = join(ENV.E2E_STATE!, "ref");
  const up = await sh(lab("ref-server.sh", "start", "--boot-dir", payload), 60_000, ENV);
  if (up.code !== 0) throw new Error(`ref-server.sh start failed (${up.code}): ${up.out}`);
  const pids = ["dnsmasq.pid", "http.pid"].map((f) => Number(readFileSync(join(state, f), "utf8").trim()));
  const before = treeUsage(pids);
  const s = await storm("ref", join(logDir, "ref"));
  const after = treeUsage(pids);
  for (const f of ["http.log", "callbacks.log", "dnsmasq.log", "dnsmasq.conf"]) if (existsSync(join(state, f))) copyFileSync(join(state, f), join(logDir, "ref", f));
  await sh(lab("ref-server.sh", "stop"), 30_000, ENV);
  const cbs = callbacks(existsSync(join(state, "callbacks.log")) ? readFileSync(join(state, "callbacks.log"), "utf8") : "");
  const ipOf = new Map([...cbs].map(([mac, c]) => [mac, c.ip]));
  const done = new Map([...cbs].map(([mac, c]) => [mac, c.at]));
  const http = existsSync(join(state, "http.log")) ? readFileSync(join(state, "http.log"), "utf8") : "";
  return {
    storm: s,
    serverCpuS: (after.ticks - before.ticks) / CLK_TCK,
    serverHwmMiB: after.hwmKb / 1024,
    phases: phasesOf(s, ipOf, refRequests(http), done),
    problems: s.vms.filter((v) => v.rc !== 0).map((v) => `${v.mac} (${v.fw}) rc=${v.rc}`),
  };
}

/** ref-http.py alone, as the callback sink beside Socle: the same code the reference answers /ok with. */
async function startSink(ns: string, ip: string, dir: string): Promise<void> {
  mkdirSync(join(dir, "root"), { recursive: true });
  sink = Bun.spawn(["ip", "netns", "exec", ns, python(), join(LAB_DIR, "ref-http.py"), "--root", join(dir, "root"), "--bind", ip, "--port", "80", "--state", dir], {
    env: { ...process.env, PATH },
    stdout: "ignore",
    stderr: Bun.file(join(dir, "http.log")),
    stdin: "ignore",
  });
  for (let i = 0; i < 150; i++) {
    if (existsSync(join(dir, "http.log")) && readFileSync(join(dir, "http.log"), "utf8").includes("listening")) return;
    if (sink.exitCode !== null) break;
    await Bun.sleep(100);
  }
  throw new Error(`the callback sink (ref-http.py) did not start within 15 s (exit ${sink.exitCode}): ${existsSync(join(dir, "http.log")) ? readFileSync(join(dir, "http.log"), "utf8") : ""}`);
}

async function socleUsage(): Promise<number[]> {
  return [socle?.pid, sink?.pid].filter((p): p is number => p !== undefined);
}

async function timelineOf(mac: string): Promise<any[]> {
  const r = await socle!.call("GET", `/api/v3/timeline?mac=${mac}`);
  return r.status === 200 && Array.isArray(r.body?.Events) ? r.body.Events : [];
}

async function runSocle(run: "socle" | "register", srvIp: string): Promise<Row> {
  const s0 = socle!;
  await s0.must("POST", "/api/v3/prefs", { json: { unknownBootEnv: run === "socle" ? "lab-callback" : "discovery" } });
  const sinkDir = join(logDir, run, "sink");
  mkdirSync(sinkDir, { recursive: true });
  if (run === "socle") await startSink(s0.ns, srvIp, sinkDir);
  const pids = await socleUsage();
  const before = treeUsage(pids);
  const logFrom = s0.log().length;
  const s = await storm(run, join(logDir, run));
  const after = treeUsage(pids);
  await stopSink();
  const log = s0.log().slice(logFrom);
  const problems = s.vms.filter((v) => v.rc !== 0).map((v) => `${v.mac} (${v.fw}) rc=${v.rc}`);
  const ipOf = new Map<string, string>();
  const done = new Map<string, number>();
  let registered: number | undefined;
  if (run === "socle") {
    const cbs = callbacks(existsSync(join(sinkDir, "callbacks.log")) ? readFileSync(join(sinkDir, "callbacks.log"), "utf8") : "");
    for (const [mac, c] of cbs) {
      ipOf.set(mac, c.ip);
      done.set(mac, c.at);
    }
  } else {
    registered = 0;
    for (const vm of s.vms) {
      const found = await s0.machinesWith(vm.mac);
      const m = found[0];
      const why =
        found.length !== 1 ? `${found.length} machines`
        : !POOL.test(String(m.Address ?? "")) ? `address ${JSON.stringify(m.Address)} not from the pool`
        : !(m.Params?.inventory?.CPUs > 0) ? "no inventory (CPUs)"
        : !(m.Params?.inventory?.MemoryBytes > 100 * 1024 * 1024) ? "no inventory (MemoryBytes)"
        : undefined;
      if (why) problems.push(`${vm.mac}: not registered as expected: ${why}`);
      else registered++;
      if (m) ipOf.set(vm.mac, String(m.Address));
      const reg = (await timelineOf(vm.mac)).find((e) => e.Kind === "register");
      if (reg) done.set(vm.mac, Date.parse(reg.Time));
    }
  }
  // Socle-only detail kept with the logs: each VM's whole timeline (DHCP, TFTP, HTTP steps).
  const tl: Record<string, unknown> = {};
  for (const vm of s.vms) tl[vm.mac] = await timelineOf(vm.mac);
  writeFileSync(join(logDir, run, "timeline.json"), JSON.stringify(tl, null, 1));
  return {
    storm: s,
    serverCpuS: (after.ticks - before.ticks) / CLK_TCK,
    serverHwmMiB: after.hwmKb / 1024,
    phases: phasesOf(s, ipOf, socleRequests(log), done),
    registered,
    problems,
  };
}

async function startSocle(payload: string, vars: Record<string, string>): Promise<void> {
  socle = new LabSocle(vars.E2E_NS_SRV ?? ENV.E2E_NS_SRV!, vars.E2E_SRV_IF ?? "lan0", vars.E2E_SRV_IP ?? "198.51.100.1");
  await socle.start();
  await socle.must("POST", "/api/v3/subnets", {
    json: { Name: "lab", Subnet: "198.51.100.0/24", ActiveStart: vars.E2E_POOL_START ?? "198.51.100.100", ActiveEnd: vars.E2E_POOL_END ?? "198.51.100.199", ActiveLeaseTime: 600 },
  });
  for (const f of ["vmlinuz", "initrd.img"]) await socle.must("PUT", `/api/v3/files/lab/${f}`, { file: join(payload, f) });
  // The reference's boot.ipxe, as a Socle boot environment: common-ipxe-linux.tmpl adds
  // initrd=initrd.img and BOOTIF itself.
  const env = await socle.must("POST", "/api/v3/bootenvs", {
    json: {
      Name: "lab-callback",
      Description: "The lab initramfs (test/lab/build-initramfs.sh): DHCP, call back, power off",
      OnlyUnknown: true,
      Kernel: "lab/vmlinuz",
      Initrds: ["lab/initrd.img"],
      BootParams: `console=ttyS0 panic=-1 quiet e2e.callback=http://${socle.address}/ok`,
      Templates: [{ Name: "ipxe", Path: "lab-callback.ipxe", ID: "common-ipxe-linux.tmpl" }],
    },
  });
  if (env.Available !== true) throw new Error(`bootenv lab-callback is not available: ${JSON.stringify(env.Errors)}`);
}

// --- report ----------------------------------------------------------------------------------

const fmt = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(d));
const median = (xs: number[]) => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
};
const phaseStats = (p: Phases, ph: Phase) => {
  const xs = [...p.values()].map((x) => x[ph]).filter((x): x is number => x !== undefined);
  return { median: median(xs), max: xs.length ? Math.max(...xs) : undefined, n: xs.length };
};

function table(rows: Partial<Record<RunName, Row>>): void {
  const names: Record<RunName, string> = { ref: "reference (dnsmasq + ref-http.py)", socle: "Socle, same payload", register: "Socle, discovery to registration" };
  console.log("");
  console.log(`| run | wall to last PASS s | passed | failures | peak QEMU RSS MiB | host CPU % | server CPU s | server peak RSS MiB |`);
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const r of RUNS) {
    const row = rows[r];
    if (!row) continue;
    const s = row.storm;
    console.log(`| ${names[r]} | ${fmt(s.wallS)} | ${s.passed}/${VMS}${row.registered === undefined ? "" : `, ${row.registered} registered`} | ${row.problems.length} | ${s.qemuPeakMiB} | ${s.hostCpuPct} | ${fmt(row.serverCpuS, 2)} | ${fmt(row.serverHwmMiB, 0)} |`);
  }
  console.log("");
  console.log("Per VM, seconds since the storm started (median / slowest VM); done = the callback, or the registration (timeline):");
  console.log(`| phase | ${RUNS.filter((r) => rows[r]).join(" | ")} |`);
  console.log(`| --- |${RUNS.filter((r) => rows[r]).map(() => " --- |").join("")}`);
  const labels: Record<Phase, string> = { script: "first boot script GET", kernel: "kernel GET", initrd: "initrd GET", done: "callback / registered", pass: "PASS (vm-boot.sh)" };
  for (const ph of PHASES) {
    const cells = RUNS.filter((r) => rows[r]).map((r) => {
      const st = phaseStats(rows[r]!.phases, ph);
      return st.n === 0 ? "-" : `${fmt(st.median)} / ${fmt(st.max)}${st.n < VMS ? ` (${st.n} VMs)` : ""}`;
    });
    console.log(`| ${labels[ph]} | ${cells.join(" | ")} |`);
  }
  const withDhcp = RUNS.filter((r) => rows[r]?.storm.dhcp);
  if (withDhcp.length === 0) return;
  console.log("");
  console.log("DHCP on the wire (tcpdump on the server's bridge port), ms over every exchange (median / max, count):");
  console.log(`| step | ${withDhcp.join(" | ")} |`);
  console.log(`| --- |${withDhcp.map(() => " --- |").join("")}`);
  const steps: [keyof DhcpLatencies, string][] = [["discoverToOffer", "DISCOVER -> OFFER (server)"], ["offerToRequest", "OFFER -> REQUEST (client)"], ["requestToAck", "REQUEST -> ACK (server)"]];
  for (const [k, label] of steps) {
    const cells = withDhcp.map((r) => {
      const xs = rows[r]!.storm.dhcp![k] as number[];
      return xs.length ? `${fmt(median(xs), 1)} / ${fmt(Math.max(...xs), 1)} (${xs.length})` : "-";
    });
    console.log(`| ${label} | ${cells.join(" | ")} |`);
  }
  console.log(`| DISCOVERs sent | ${withDhcp.map((r) => rows[r]!.storm.dhcp!.discovers).join(" | ")} |`);
}

// --- main ------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const why = missing();
  if (why) die(`cannot run: ${why}`);
  const lock = await takeLock();
  const rows: Partial<Record<RunName, Row>> = {};
  let code = 1;
  const onSignal = (sig: string) => {
    console.error(`bench:storm: ${sig}: stopping everything`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  try {
    mkdirSync(logDir, { recursive: true });
    const qemus = otherQemus();
    console.log(`bench:storm: ${VMS} VMs per run, runs ${ONLY.join(", ")}${SOCLE_FIRST ? " (Socle before the reference)" : ""}; start: ${uptime()}${qemus ? `; WARNING: ${qemus} QEMU processes already running (figures are noise)` : ""}`);
    const payload = await buildPayload();
    await sh(lab("lab-down.sh"), 60_000, ENV); // an earlier, killed run's namespaces
    const vars = await labUp(ENV);
    const srvIp = vars.E2E_SRV_IP ?? "198.51.100.1";
    const reference = async () => {
      rows.ref = await runReference(payload);
      console.log(`reference: ${rows.ref.storm.summary}`);
    };
    const sameLoad = async () => {
      rows.socle = await runSocle("socle", srvIp);
      console.log(`Socle, same payload: ${rows.socle.storm.summary}`);
    };
    if (ONLY.includes("ref") && !SOCLE_FIRST) await reference();
    if (ONLY.includes("socle") || ONLY.includes("register")) await startSocle(payload, vars);
    if (ONLY.includes("socle")) await sameLoad();
    if (ONLY.includes("ref") && SOCLE_FIRST) {
      // One DHCP server on the LAN at a time: Socle stops while dnsmasq serves (same data dir after).
      await socle?.stop();
      // A restarted server writes its log from the start again: keep the first one aside.
      if (socle && existsSync(socle.logFile)) renameSync(socle.logFile, join(logDir, "socle.first.log"));
      await reference();
      if (ONLY.includes("register")) await socle?.start();
    }
    if (ONLY.includes("register")) {
      rows.register = await runSocle("register", srvIp);
      console.log(`Socle, to registration: ${rows.register.storm.summary}`);
    }
    table(rows);
    const ratio = rows.ref && rows.socle ? rows.socle.storm.wallS / rows.ref.storm.wallS : undefined;
    const regRatio = rows.ref && rows.register ? rows.register.storm.wallS / rows.ref.storm.wallS : undefined;
    const failures = RUNS.reduce((n, r) => n + (rows[r]?.problems.length ?? 0), 0);
    console.log("");
    if (ratio !== undefined) console.log(`ratio Socle / reference, wall to the last PASS: ${ratio.toFixed(3)}x (target <= ${TARGET}x: ${ratio <= TARGET ? "met" : "MISSED"})`);
    if (regRatio !== undefined) console.log(`ratio Socle to registration / reference (informative: the discovery image does more): ${regRatio.toFixed(3)}x`);
    for (const r of RUNS) for (const p of rows[r]?.problems ?? []) console.log(`FAILURE ${r}: ${p}`);
    const json = {
      bench: "storm",
      vms: VMS,
      target: TARGET,
      ratio: ratio === undefined ? null : Number(ratio.toFixed(3)),
      registerRatio: regRatio === undefined ? null : Number(regRatio.toFixed(3)),
      failures,
      runs: Object.fromEntries(
        RUNS.filter((r) => rows[r]).map((r) => {
          const row = rows[r]!;
          return [r, {
            wallS: row.storm.wallS, passed: row.storm.passed, failed: row.storm.failed, registered: row.registered ?? null,
            qemuPeakMiB: row.storm.qemuPeakMiB, hostCpuPct: row.storm.hostCpuPct,
            serverCpuS: Number(row.serverCpuS.toFixed(2)), serverPeakRssMiB: Math.round(row.serverHwmMiB),
            phases: Object.fromEntries(PHASES.map((ph) => [ph, phaseStats(row.phases, ph)])),
            ...(row.storm.dhcp ? { dhcpMs: Object.fromEntries((["discoverToOffer", "offerToRequest", "requestToAck"] as const).map((k) => [k, { median: median(row.storm.dhcp![k]) ?? null, max: row.storm.dhcp![k].length ? Math.max(...row.storm.dhcp![k]) : null, n: row.storm.dhcp![k].length }])), discovers: row.storm.dhcp.discovers } : {}),
          }];
        }),
      ),
      load: loadavg().map((l) => Number(l.toFixed(2))),
    };
    console.log(JSON.stringify(json));
    code = failures === 0 ? 0 : 1;
  } catch (err) {
    console.error(`bench:storm: ${err instanceof Error ? err.message : String(err)}`);
    code = 2;
  } finally {
    await cleanup();
    console.log(`bench:storm: end: ${uptime()}; logs in ${logDir}`);
    if (lock) {
      lock.stdin.end();
      lock.kill("SIGTERM");
    }
  }
  return code;
}

process.exit(await main());
