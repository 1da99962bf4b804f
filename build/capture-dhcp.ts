// Regenerates the golden DHCP captures of real clients against Socle (issue 3, section 1):
//
//   bun build/capture-dhcp.ts [udhcpc|dhclient|relay ...] [--out DIR]      (as root)
//
//   udhcpc-dhcp.pcap    busybox udhcpc: DISCOVER/OFFER/REQUEST/ACK, renew (SIGUSR1), release (SIGUSR2)
//   dhclient-dhcp.pcap  ISC dhclient: DORA, INIT-REBOOT from its lease file on a second start, -r release
//   relay-dhcp.pcap     udhcpc behind ISC dhcrelay -a, captured on the relay's uplink: the relayed
//                       DISCOVER/REQUEST (giaddr, hops 1, option 82 circuit-id) and Socle's OFFER/ACK
//                       to giaddr:67 (option 82 echoed). Only DORA: renewals are unicast and routed,
//                       and dhcrelay's packet socket sees those on its downlink too and relays a second
//                       copy, so the server gets each renewal twice (once relayed, once not).
//
// Each capture runs the whole Socle server (`bun src/main.ts serve`) in a namespace made for it, with
// addresses from 198.51.100.0/24 and 203.0.113.0/24 only, and records with tcpdump on a named
// interface (Ethernet framing, which testdata/pcap.ts reads). Everything is torn down afterwards:
// processes by PID, then the namespaces (and the veths in them).
//
// MACs, interface names (they are per namespace, so fixed names cannot collide), the subnet and the
// client configuration are fixed, so a rerun differs only in xids, secs and timestamps. A capture is
// checked (message types in order, relay fields) before it replaces the fixture in --out (default
// src/dhcp/codec/testdata). Then: UPDATE_GOLDEN=1 bun test src/dhcp/codec/golden.test.ts, and read the diff.
// CAPTURE_DEBUG=1 prints tcpdump's and the relayed client's output and keeps the scratch pcaps.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { messageTypeName } from "../src/dhcp/codec/message-type.ts";
import { parsePacket, type DhcpPacket } from "../src/dhcp/codec/packet.ts";
import { readPcapDhcp } from "../src/dhcp/codec/testdata/pcap.ts";
import { NetLab, needsRoot, type Spawned } from "../test/helpers/netns.ts";
import { ClientKit, SocleInNetns, waitEvent } from "../test/helpers/socle-netns.ts";

const ROOT = resolve(import.meta.dir, "..");
export const DEFAULT_OUT = join(ROOT, "src", "dhcp", "codec", "testdata");

const SERVER = "198.51.100.1";
const RELAY_UP = "198.51.100.2";
const RELAY_DOWN = "203.0.113.1";
const MAC = { udhcpc: "02:00:00:5c:03:01", dhclient: "02:00:00:5c:03:02", relay: "02:00:00:5c:03:03" } as const;

export type CaptureName = keyof typeof MAC;
export const CAPTURE_NAMES = Object.keys(MAC) as CaptureName[];

export interface CaptureOptions {
  names: CaptureName[];
  out: string;
}

export function parseCaptureArgs(argv: readonly string[]): CaptureOptions {
  const o: CaptureOptions = { names: [], out: DEFAULT_OUT };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--out(?:=(.*))?$/.exec(a);
    if (m) {
      const v = m[1] ?? argv[++i];
      if (!v) throw new Error("capture-dhcp: --out: missing value");
      o.out = resolve(v);
    } else if ((CAPTURE_NAMES as string[]).includes(a)) {
      if (!o.names.includes(a as CaptureName)) o.names.push(a as CaptureName);
    } else {
      throw new Error(`capture-dhcp: unknown argument "${a}" (usage: bun build/capture-dhcp.ts [${CAPTURE_NAMES.join("|")} ...] [--out DIR])`);
    }
  }
  if (o.names.length === 0) o.names = [...CAPTURE_NAMES];
  return o;
}

/** Why the captures cannot be made here, or undefined. */
export function captureSkip(): string | undefined {
  const r = needsRoot();
  if (r) return r;
  for (const [tool, pkg] of [["tcpdump", "tcpdump"], ["busybox", "busybox"], ["dhclient", "isc-dhcp-client"], ["dhcrelay", "isc-dhcp-relay"]]) {
    if (!Bun.which(tool!)) return `needs ${tool} (Debian package ${pkg})`;
  }
  return undefined;
}

// ---- client hooks and configuration --------------------------------------------------------------

/** dhclient with our own configuration, not the host's /etc/dhcp/dhclient.conf: that one sends
 * this machine's host name, which would end up in the fixture and change with the host. */
function dhclientHook(kit: ClientKit, name: string): ReturnType<ClientKit["dhclientScript"]> & { conf: string } {
  const conf = join(kit.dir, `${name}.dhclient.conf`);
  writeFileSync(
    conf,
    `send host-name "socle-capture";
request subnet-mask, broadcast-address, time-offset, routers, domain-name, domain-name-servers,
  domain-search, host-name, interface-mtu, ntp-servers;
`,
  );
  return { ...kit.dhclientScript(name), conf };
}

const SUBNET_OPTIONS = [
  { Code: 6, Value: SERVER },
  { Code: 15, Value: "lab.example" },
  { Code: 119, Value: "lab.example, example.org" },
  { Code: 42, Value: SERVER },
];

function subnetJson(name: string, cidr: string, router: string): string {
  const base = cidr.replace(/\.0\/24$/, "");
  return JSON.stringify({
    Name: name,
    Subnet: cidr,
    ActiveStart: `${base}.100`,
    ActiveEnd: `${base}.150`,
    ActiveLeaseTime: 3600,
    Options: [{ Code: 3, Value: router }, ...SUBNET_OPTIONS],
  });
}

// ---- capture plumbing ----------------------------------------------------------------------------

async function startTcpdump(lab: NetLab, ns: string, iface: string, file: string): Promise<Spawned> {
  // -Z root: Debian's tcpdump would otherwise drop to its own user before writing to the file.
  const t = lab.spawn(ns, ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-Z", "root", "-w", file, "udp", "port", "67", "or", "udp", "port", "68"]);
  await t.waitFor(/listening on/, 10_000);
  return t;
}

async function stopTcpdump(t: Spawned): Promise<void> {
  await Bun.sleep(500); // the last reply is on the wire before the client reports; let tcpdump see it
  await t.kill(3_000);
  if (process.env.CAPTURE_DEBUG) console.error(t.output());
  if (!/packets captured/.test(t.output())) throw new Error(`capture-dhcp: tcpdump ${t.pid} did not finish cleanly:\n${t.output()}`);
}

/** A server namespace with Socle on `srv0` (198.51.100.1/24) and a client namespace with `cl0` (mac). */
async function directSegment(lab: NetLab, mac: string): Promise<{ srv: string; cl: string; socle: SocleInNetns }> {
  const srv = await lab.ns("s");
  const cl = await lab.ns("c");
  await lab.veth({ ns: srv, name: "srv0" }, { ns: cl, name: "cl0" });
  await lab.ip(cl, "link", "set", "cl0", "address", mac);
  await lab.addr(srv, "srv0", `${SERVER}/24`);
  const socle = await SocleInNetns.start(lab, srv, { interfaces: ["srv0"] });
  await socle.cli("subnets", "create", subnetJson("capture", "198.51.100.0/24", SERVER));
  return { srv, cl, socle };
}

async function withLab(fn: (lab: NetLab, dir: string, holder: { socle?: SocleInNetns }) => Promise<void>): Promise<void> {
  const lab = new NetLab();
  const dir = mkdtempSync(join(tmpdir(), "socle-capture-"));
  const holder: { socle?: SocleInNetns } = {};
  try {
    await fn(lab, dir, holder);
  } finally {
    try {
      await holder.socle?.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await lab.cleanup();
    }
  }
}

const esc = (ip: string) => ip.replaceAll(".", "\\.");

// ---- the captures --------------------------------------------------------------------------------

/** udhcpc in the foreground until bound, then renew (SIGUSR1), then release (SIGUSR2) seen by Socle. */
async function udhcpcSession(lab: NetLab, ns: string, iface: string, k: { script: string; events: string }, socle: SocleInNetns): Promise<string> {
  const run = lab.spawn(ns, ["busybox", "udhcpc", "-i", iface, "-f", "-t", "4", "-T", "2", "-s", k.script]);
  const ip = (await waitEvent(k.events, /^bound ip=(\S+) /, 20_000))[1]!;
  run.proc.kill("SIGUSR1"); // renew: a unicast DHCPREQUEST from the leased address
  await waitEvent(k.events, new RegExp(`^renew ip=${esc(ip)} `), 20_000);
  run.proc.kill("SIGUSR2"); // release (unicast), then the hook's deconfig
  await waitEvent(k.events, /^deconfig /, 20_000);
  // Stop only once the server has seen the release, so the capture holds it too.
  await socle.waitLease(ip, "released", (l) => l.State === "RELEASED");
  await run.kill();
  return ip;
}

async function captureUdhcpc(file: string): Promise<void> {
  await withLab(async (lab, dir, holder) => {
    const { srv, cl, socle } = await directSegment(lab, MAC.udhcpc);
    holder.socle = socle;
    const dump = await startTcpdump(lab, srv, "srv0", file);
    await udhcpcSession(lab, cl, "cl0", new ClientKit(dir).udhcpcScript("u", { defaultRoute: true }), socle);
    await stopTcpdump(dump);
  });
}

async function captureDhclient(file: string): Promise<void> {
  await withLab(async (lab, dir, holder) => {
    const { srv, cl, socle } = await directSegment(lab, MAC.dhclient);
    holder.socle = socle;
    const k = dhclientHook(new ClientKit(dir), "d");
    const dhclient = (...extra: string[]) => ["dhclient", ...extra, "-v", "-cf", k.conf, "-lf", k.leaseFile, "-pf", k.pidFile, "-sf", k.script, "cl0"];
    const dump = await startTcpdump(lab, srv, "srv0", file);
    const first = lab.spawn(cl, dhclient("-d", "-1"));
    const ip = (await waitEvent(k.events, /^BOUND ip=(\S+) /, 20_000))[1]!;
    await first.kill(); // SIGTERM: stops without a release, the lease stays in the lease file
    // A second start with the lease file: INIT-REBOOT (DHCPREQUEST naming the old address, no server id).
    const second = lab.spawn(cl, dhclient("-d", "-1"));
    await waitEvent(k.events, new RegExp(`^REBOOT ip=${esc(ip)} `), 20_000);
    const rel = await lab.exec(cl, dhclient("-r"), 20_000);
    if (rel.code !== 0) throw new Error(`capture-dhcp: dhclient -r failed (${rel.code}): ${rel.stderr.trim()}`);
    await waitEvent(k.events, /^RELEASE /, 20_000);
    await socle.waitLease(ip, "released", (l) => l.State === "RELEASED");
    await second.kill();
    await stopTcpdump(dump);
  });
}

async function captureRelay(file: string): Promise<void> {
  // [ns c] cl0 --- down0 203.0.113.1 [ns r: dhcrelay -a] up0 198.51.100.2 --- srv0 198.51.100.1 [ns s: Socle]
  await withLab(async (lab, dir, holder) => {
    const srv = await lab.ns("s");
    const rl = await lab.ns("r");
    const cl = await lab.ns("c");
    await lab.veth({ ns: cl, name: "cl0" }, { ns: rl, name: "down0" });
    await lab.veth({ ns: rl, name: "up0" }, { ns: srv, name: "srv0" });
    await lab.ip(cl, "link", "set", "cl0", "address", MAC.relay);
    await lab.addr(rl, "down0", `${RELAY_DOWN}/24`);
    await lab.addr(rl, "up0", `${RELAY_UP}/24`);
    await lab.addr(srv, "srv0", `${SERVER}/24`);
    await lab.ip(srv, "route", "add", "203.0.113.0/24", "via", RELAY_UP);
    const socle = await SocleInNetns.start(lab, srv, { interfaces: ["srv0"] });
    holder.socle = socle;
    await socle.cli("subnets", "create", subnetJson("local", "198.51.100.0/24", SERVER));
    await socle.cli("subnets", "create", subnetJson("relayed", "203.0.113.0/24", RELAY_DOWN));
    const relay = lab.spawn(rl, ["dhcrelay", "-4", "-d", "-a", "-pf", join(dir, "dhcrelay.pid"), "-id", "down0", "-iu", "up0", SERVER]);
    await relay.waitFor(/Sending on\s+Socket\/fallback/, 10_000);
    const dump = await startTcpdump(lab, rl, "up0", file);
    const k = new ClientKit(dir).udhcpcScript("r", { defaultRoute: true });
    // -q: quit once bound. (Seen with busybox 1.35: -q -R logs "entering released state" on the way
    // out but puts no DHCPRELEASE on the wire, so this capture has no release.)
    const r = await lab.exec(cl, ["busybox", "udhcpc", "-i", "cl0", "-f", "-q", "-n", "-t", "4", "-T", "2", "-s", k.script], 30_000);
    if (r.code !== 0) throw new Error(`capture-dhcp: udhcpc behind the relay failed (${r.code}):\n${r.stdout}${r.stderr}`);
    await waitEvent(k.events, new RegExp(`^bound ip=203\\.0\\.113\\.\\d+ .* router=${esc(RELAY_DOWN)}$`), 5_000);
    await stopTcpdump(dump);
    await relay.kill();
  });
}

// ---- checks --------------------------------------------------------------------------------------

const typeOf = (p: DhcpPacket) => messageTypeName(p.options.getMessageType() ?? 0);

/** The message types of a capture, in order; throws naming what is wrong when it does not hold the exchange it should. */
export function checkCapture(name: CaptureName, pcap: Uint8Array): string[] {
  const packets = readPcapDhcp(pcap).map((d) => ({ d, p: parsePacket(d.payload) }));
  const types = packets.map(({ p }) => typeOf(p));
  const dora = ["DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPACK"];
  const want = {
    udhcpc: [...dora, "DHCPREQUEST", "DHCPACK", "DHCPRELEASE"],
    dhclient: [...dora, "DHCPREQUEST", "DHCPACK", "DHCPRELEASE"],
    relay: dora,
  }[name];
  if (types.join(" ") !== want.join(" ")) {
    throw new Error(`capture-dhcp: ${name}: expected ${want.join(" ")}, captured ${types.join(" ") || "nothing"} (rerun to capture again)`);
  }
  const mac = MAC[name].replaceAll(":", "");
  for (const { p } of packets) {
    if (Buffer.from(p.chaddr).toString("hex") !== mac) throw new Error(`capture-dhcp: ${name}: a ${typeOf(p)} names chaddr ${Buffer.from(p.chaddr).toString("hex")}, not ${mac}`);
  }
  if (name === "relay") {
    for (const { d, p } of packets) {
      const where = `${name}: frame ${d.frame} (${typeOf(p)})`;
      if (p.giaddr !== RELAY_DOWN) throw new Error(`capture-dhcp: ${where}: giaddr ${p.giaddr}, expected ${RELAY_DOWN}`);
      if (p.options.get(82) === undefined) throw new Error(`capture-dhcp: ${where}: no option 82 (relay agent information)`);
      if (p.op === 1 && p.hops !== 1) throw new Error(`capture-dhcp: ${where}: hops ${p.hops}, expected 1`);
    }
  }
  return types;
}

export async function captureDhcp(opts: CaptureOptions, log: (line: string) => void = (l) => console.error(l)): Promise<void> {
  const skip = captureSkip();
  if (skip) throw new Error(`capture-dhcp: cannot capture here: ${skip}`);
  const run: Record<CaptureName, (file: string) => Promise<void>> = { udhcpc: captureUdhcpc, dhclient: captureDhclient, relay: captureRelay };
  mkdirSync(opts.out, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), "socle-pcaps-"));
  try {
    for (const name of opts.names) {
      const tmp = join(scratch, `${name}-dhcp.pcap`);
      log(`capture-dhcp: ${name}: capturing`);
      await run[name](tmp);
      const types = checkCapture(name, readFileSync(tmp));
      const dest = join(opts.out, `${name}-dhcp.pcap`);
      copyFileSync(tmp, dest);
      log(`capture-dhcp: ${name}: ${types.join(" ")} -> ${dest}`);
    }
  } finally {
    if (!process.env.CAPTURE_DEBUG) rmSync(scratch, { recursive: true, force: true });
  }
  log("capture-dhcp: now run UPDATE_GOLDEN=1 bun test src/dhcp/codec/golden.test.ts and read the diff of testdata/golden/");
}

if (import.meta.main) {
  try {
    await captureDhcp(parseCaptureArgs(process.argv.slice(2)));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
