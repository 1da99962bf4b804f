// The HA pair in the QEMU lab: two Socle nodes (`bun src/main.ts serve --ha-vip`), node A in the
// lab's server namespace and node B in the one test/lab/ha-up.sh adds, joined by a peer link, VMs
// on the bridge booting through the VIP, and the observers that judge the pair from the LAN's side,
// all in the VM namespace: a DHCP sniffer on the bridge (every reply, whoever sent it; a node is
// told apart by the UDP source address, its own LAN address), the failover prober
// (test/helpers/dhcp-prober.ts) and the API writer (test/helpers/api-writer.ts). The LAN's view is
// the one that counts: a client there never learns which node answered it, only whether it was
// answered, and with what.
//
// The sniffer is this file run as a child (SOCLE_HA_SNIFFER={"iface":"br0"}): it binds port 68 on
// the bridge with SO_REUSEADDR (the prober binds the same port beside it; broadcasts reach both)
// and prints every BOOTREPLY as a JSON line. Socle broadcasts every reply to a client without an
// address (src/dhcp/reply.ts), so the bridge's own port sees them all; only renewals (ciaddr set)
// are unicast, and a discovery boot lives shorter than half its lease.

import { existsSync, readFileSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HeardReply } from "../helpers/dhcp-reply.ts";
import { ADMIN_PASSWORD, LabSocle, curlAnswer, lab, labUp, sh, type ApiAnswer, type Ran } from "./lab.ts";
import { NetLab, type Spawned } from "../helpers/netns.ts";
import { startProber, type ProberSpec } from "../helpers/dhcp-prober.ts";
import { startWriter, type WriterSpec } from "../helpers/api-writer.ts";
import { until } from "../helpers/socle-netns.ts";

/** This suite's namespaces and state dir (the network-boot suite keeps its own). */
export const HA_ENV: Record<string, string> = {
  E2E_NS_SRV: process.env.E2E_HA_NS_SRV ?? "socle-ha-srv",
  E2E_NS_VM: process.env.E2E_HA_NS_VM ?? "socle-ha-vm",
  E2E_STATE: process.env.E2E_HA_STATE ?? "/run/socle-ha",
};

export type NodeId = "a" | "b";
export const other = (n: NodeId): NodeId => (n === "a" ? "b" : "a");

/** The lab's network as lab-up.sh and ha-up.sh made it. */
export interface HaLabNet {
  ns: Record<NodeId | "vm", string>;
  /** The LAN interface in both server namespaces. */
  iface: string;
  lan: Record<NodeId, string>;
  peerIf: string;
  peer: Record<NodeId, string>;
  vip: string;
  prefixLen: string;
  bridge: string;
  poolStart: string;
  poolEnd: string;
  state: string;
}

/** lab-down.sh (leftovers of a killed run), lab-up.sh, ha-up.sh. */
export async function haLabUp(): Promise<HaLabNet> {
  await sh(lab("lab-down.sh"), 60_000, HA_ENV);
  const v = await labUp(HA_ENV);
  const h = await labUp(HA_ENV, "ha-up.sh");
  const need = (vars: Record<string, string>, k: string): string => {
    const x = vars[k];
    if (!x) throw new Error(`the lab scripts printed no ${k}`);
    return x;
  };
  return {
    ns: { a: need(v, "E2E_NS_SRV"), b: need(h, "E2E_NS_SRV2"), vm: need(v, "E2E_NS_VM") },
    iface: need(v, "E2E_SRV_IF"),
    lan: { a: need(v, "E2E_SRV_IP"), b: need(h, "E2E_SRV2_IP") },
    peerIf: need(h, "E2E_PEER_IF"),
    peer: { a: need(h, "E2E_PEER_A"), b: need(h, "E2E_PEER_B") },
    vip: need(h, "E2E_VIP"),
    prefixLen: need(v, "E2E_PREFIXLEN"),
    bridge: need(v, "E2E_BRIDGE"),
    poolStart: need(v, "E2E_POOL_START"),
    poolEnd: need(v, "E2E_POOL_END"),
    state: need(v, "E2E_STATE"),
  };
}

export function haLabDown(): Promise<Ran> {
  return sh(lab("lab-down.sh"), 60_000, HA_ENV);
}

/** What GET /api/v3/ha answers (src/ha/controller.ts HaStatus), as far as these tests read it. */
export interface HaStatusView {
  Node: string;
  State: string;
  Term: number;
  Reason: string;
  HoldsVip: boolean;
  Seq: number;
  LagSeq: number;
  FailoverSafe: boolean;
  Why: string[];
  Peer: { Name: string; State: string; Seq: number; Paths: { Address: string; Up: boolean }[] };
  Transitions: { At: string; From: string; To: string; Reason: string }[];
}

/** One DHCP reply the sniffer heard on the bridge. */
/** A DHCP reply the sniffer heard (`from`: the node that sent it). */
export type Sniffed = HeardReply;

/** Addresses ACKed to more than one client: the duplicates a pair must never make. */
export function duplicateAcks(replies: readonly Sniffed[]): { yiaddr: string; clients: string[] }[] {
  const by = new Map<string, Set<string>>();
  for (const r of replies) {
    if (r.type !== "DHCPACK" || r.yiaddr === "0.0.0.0") continue;
    const set = by.get(r.yiaddr) ?? new Set<string>();
    set.add(r.chaddr);
    by.set(r.yiaddr, set);
  }
  return [...by].filter(([, s]) => s.size > 1).map(([yiaddr, s]) => ({ yiaddr, clients: [...s].sort() }));
}

/** Every address ACKed to each client. */
export function ackedAddresses(replies: readonly Sniffed[]): Map<string, Set<string>> {
  const by = new Map<string, Set<string>>();
  for (const r of replies) {
    if (r.type !== "DHCPACK" || r.yiaddr === "0.0.0.0") continue;
    const set = by.get(r.chaddr) ?? new Set<string>();
    set.add(r.yiaddr);
    by.set(r.chaddr, set);
  }
  return by;
}

/** The result of one vm-boot.sh. */
export interface VmBoot {
  name: string;
  mac: string;
  fw: string;
  code: number;
  out: string;
  /** Times the guest rebooted and vm-boot.sh started it again (--disk). */
  powerCycles: number;
  seconds: number;
  serialLog: string;
}

/** The JSON object in a CLI's output (lab.ts's sh() gives stdout and stderr together). */
function jsonIn(out: string): unknown {
  const from = out.indexOf("{");
  // stdout comes first: the object ends at the last "}" that closes it, whatever stderr added.
  for (let to = out.lastIndexOf("}"); from >= 0 && to > from; to = out.lastIndexOf("}", to - 1)) {
    try {
      return JSON.parse(out.slice(from, to + 1));
    } catch {}
  }
  throw new Error(`no JSON object in: ${out.slice(0, 600)}`);
}

/** One line of a JSON log ({msg, ...}), or undefined for anything else. */
function jsonLine(l: string): { msg?: string; [k: string]: unknown } | undefined {
  if (!l.startsWith("{")) return undefined;
  try {
    return JSON.parse(l) as { msg?: string };
  } catch {
    return undefined; // a line cut by a kill
  }
}

export class HaLabPair {
  readonly nodes: Record<NodeId, LabSocle>;
  /** Children in the lab's namespaces (sniffer, prober, writer); cleanup() kills them by PID. */
  readonly children = new NetLab();
  private sniffer: Spawned | undefined;

  constructor(
    readonly net: HaLabNet,
    /** Where serial logs (and the VMs' scratch disks) go. */
    readonly logDir: string,
  ) {
    const args = (n: NodeId) => [
      "--ha-vip", `${net.vip}/${net.prefixLen}`,
      "--ha-node-name", `node-${n}`,
      // The dedicated peer link first: the LAN is the second path.
      "--ha-peer", `${net.peer[other(n)]},${net.lan[other(n)]}`,
      "--log-format", "json",
    ];
    // --address is the VIP: the address machines are given for boot files and the API.
    this.nodes = {
      a: new LabSocle(net.ns.a, net.iface, net.vip, undefined, args("a")),
      b: new LabSocle(net.ns.b, net.iface, net.vip, undefined, args("b")),
    };
  }

  /** The pair's CA (the same on both nodes: the second node got it at enrolment and by replication). */
  get caFile(): string {
    return join(this.nodes.a.dataDir, "pki", "ca.pem");
  }

  /** The node whose Socle runs `node-a` / `node-b`. */
  static nodeOf(name: string): NodeId {
    if (name === "node-a") return "a";
    if (name === "node-b") return "b";
    throw new Error(`unknown HA node name ${JSON.stringify(name)}`);
  }

  /** An API call through the VIP from the LAN (the VM namespace), as any client makes it. */
  async api(method: string, path: string, json?: unknown): Promise<ApiAnswer> {
    const args = ["ip", "netns", "exec", this.net.ns.vm, "curl", "-sS", "--max-time", "20", "-X", method, "-u", `admin:${ADMIN_PASSWORD}`, "--cacert", this.caFile, "-w", "\n%{http_code}"];
    if (json !== undefined) args.push("-H", "Content-Type: application/json", "--data-binary", JSON.stringify(json));
    args.push(`https://${this.net.vip}:8092${path}`);
    return curlAnswer((await sh(args, 30_000, HA_ENV)).out);
  }

  async must(method: string, path: string, json?: unknown): Promise<any> {
    const r = await this.api(method, path, json);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} through the VIP answered ${r.status}: ${r.text.slice(0, 600)}`);
    return r.body;
  }

  /** The active node's status through the VIP, or undefined while nobody answers there. */
  async status(): Promise<HaStatusView | undefined> {
    const r = await this.api("GET", "/api/v3/ha");
    return r.status === 200 ? (r.body as HaStatusView) : undefined;
  }

  /** `socle ha status -o json` run on node `n` (its endpoint is the VIP, which it holds when active). */
  async cliStatus(n: NodeId): Promise<HaStatusView> {
    const r = await this.nodes[n].cli("ha", "status", "-o", "json");
    if (r.code !== 0) throw new Error(`socle ha status on node ${n} failed (${r.code}): ${r.out}`);
    return jsonIn(r.out) as HaStatusView;
  }

  /**
   * Wait until the node holding the VIP is active with its partner (not alone: "partner-down"
   * passes through a safe moment before its next tick makes it "active") and says a failover is
   * safe; returns it and its status.
   */
  async waitSafe(timeoutMs: number): Promise<{ active: NodeId; status: HaStatusView }> {
    let last: HaStatusView | undefined;
    await until(() => `a failover safe (last: ${last ? `${last.Node} ${last.State}: ${JSON.stringify(last.Why)}` : "no answer on the VIP"})`, timeoutMs, async () => {
      last = await this.status();
      return last?.HoldsVip === true && last.State === "active" && last.FailoverSafe;
    });
    return { active: HaLabPair.nodeOf(last!.Node), status: last! };
  }

  /** The VIP on node `n`'s LAN interface, in the kernel (not what the node believes). */
  async holdsVipInKernel(n: NodeId): Promise<boolean> {
    const r = await sh(["ip", "-n", this.net.ns[n], "-4", "-o", "addr", "show", "dev", this.net.iface], 10_000, HA_ENV);
    return r.out.includes(` ${this.net.vip}/`);
  }

  /** Node `n`'s JSON log lines, across kills and restarts (oldest first). */
  logLines(n: NodeId): { msg?: string; [k: string]: unknown }[] {
    const s = this.nodes[n];
    const killed = readdirSync(s.work).filter((f) => /^socle\.killed-\d+\.log$/.test(f)).sort((x, y) => Number(/\d+/.exec(x)![0]) - Number(/\d+/.exec(y)![0]));
    const text = killed.map((f) => readFileSync(join(s.work, f), "utf8")).join("\n") + "\n" + s.log();
    return text.split("\n").map(jsonLine).filter((e) => e !== undefined);
  }

  /** The role changes node `n` logged ("standby -> partner-down: <reason>"), across restarts. */
  transitions(n: NodeId): string[] {
    return this.logLines(n).flatMap((e) => (e.msg?.startsWith("HA ") && e.msg.includes(" -> ") ? [e.msg.slice(3)] : []));
  }

  private startedLine(n: NodeId): () => Promise<boolean> {
    const before = this.logLines(n).filter((e) => e.msg === "HA node started").length;
    return async () => this.logLines(n).filter((e) => e.msg === "HA node started").length > before;
  }

  /** Start node `n` on its data dir again (after a kill): it comes up cold, as a standby, and serves no API. */
  async restart(n: NodeId, timeoutMs = 60_000): Promise<void> {
    await this.nodes[n].start(timeoutMs, this.startedLine(n));
  }

  /**
   * Node A alone (it takes the VIP and serves), the lab's configuration through its API (a subnet
   * with the lab's pool, unknown machines to discovery), an enrolment secret from A, `socle ha
   * join` for B's empty data dir (the secret in the environment, never on its command line), B
   * started; resolves once A says a failover is safe.
   */
  async form(timeoutMs = 120_000): Promise<void> {
    const a = this.nodes.a;
    await a.start(60_000);
    await this.must("POST", "/api/v3/subnets", {
      Name: "lab",
      Subnet: `${this.net.lan.a.split(".").slice(0, 3).join(".")}.0/${this.net.prefixLen}`,
      ActiveStart: this.net.poolStart,
      ActiveEnd: this.net.poolEnd,
      ActiveLeaseTime: 600,
    });
    await this.must("POST", "/api/v3/prefs", { unknownBootEnv: "discovery" });
    const enrol = await a.cli("ha", "enrol", "-o", "json");
    if (enrol.code !== 0) throw new Error(`socle ha enrol failed (${enrol.code}): ${enrol.out}`);
    const ticket = jsonIn(enrol.out) as { Secret: string; CaPin: string; Address: string; Port: number };
    const b = this.nodes.b;
    const joined = await sh([
      "ip", "netns", "exec", b.ns, "env", `SOCLE_HA_ENROL_SECRET=${ticket.Secret}`, ...b.command,
      "ha", "join", ticket.Address, "--port", String(ticket.Port), "--ca-pin", ticket.CaPin,
      "--node-name", "node-b", "--lan-address", this.net.lan.b, "--data-dir", b.dataDir,
    ], 60_000, HA_ENV);
    if (joined.code !== 0) throw new Error(`socle ha join failed (${joined.code}): ${joined.out}`);
    await b.start(60_000, this.startedLine("b"));
    const { active } = await this.waitSafe(timeoutMs);
    if (active !== "a") throw new Error(`node ${active} is active after the pair formed; node a was first`);
  }

  /** The DHCP sniffer on the bridge (one per pair; it runs until cleanup). */
  async startSniffer(): Promise<void> {
    const p = this.children.spawn(this.net.ns.vm, ["env", `SOCLE_HA_SNIFFER=${JSON.stringify({ iface: this.net.bridge })}`, process.execPath, import.meta.path]);
    await p.waitFor(/^sniffer: listening/m, 20_000);
    this.sniffer = p;
  }

  /** Every reply the sniffer heard so far. */
  sniffed(): Sniffed[] {
    if (!this.sniffer) throw new Error("the sniffer is not running");
    return this.sniffer.output().split("\n").map(jsonLine).filter((e) => e !== undefined) as unknown as Sniffed[];
  }

  /** The failover prober on the bridge (a DISCOVER every everyMs, one exchange). */
  startProber(spec: Omit<ProberSpec, "iface">): Spawned {
    return startProber(this.children, this.net.ns.vm, { iface: this.net.bridge, ...spec });
  }

  /** The API writer, from the LAN through the VIP. */
  startWriter(spec: Omit<WriterSpec, "endpoint" | "caFile">): Spawned {
    return startWriter(this.children, this.net.ns.vm, { endpoint: `https://${this.net.vip}:8092`, caFile: this.caFile, ...spec });
  }

  /**
   * vm-boot.sh for one VM. With `disk` it gets a blank scratch disk after the network in the boot
   * order, which makes vm-boot.sh power the guest on again when it reboots (-no-reboot ends QEMU):
   * a VM whose boot file download the kill cut short runs the iPXE script's :failed path (30 s,
   * then reboot) and boots again from the survivor, as a real machine would.
   */
  async bootVm(o: { name: string; mac: string; fw: "bios" | "uefi"; timeoutS: number; disk?: boolean }): Promise<VmBoot> {
    const serialLog = join(this.logDir, `${o.name}.serial.log`);
    const extra: string[] = [];
    if (o.disk) {
      const f = join(this.logDir, `${o.name}.disk`);
      writeFileSync(f, "");
      truncateSync(f, 8 * 1024 * 1024);
      extra.push("--disk", f);
    }
    const t0 = Date.now();
    const r = await sh(lab("vm-boot.sh", "--mac", o.mac, "--fw", o.fw, "--timeout", String(o.timeoutS), "--log", serialLog, ...extra), (o.timeoutS + 30) * 1000, HA_ENV);
    return {
      name: o.name,
      mac: o.mac,
      fw: o.fw,
      code: r.code,
      out: r.out,
      powerCycles: (r.out.match(/power cycle \d+/g) ?? []).length,
      seconds: (Date.now() - t0) / 1000,
      serialLog,
    };
  }

  /** Stop both nodes (SIGTERM) and every child; the namespaces stay for lab-down.sh. */
  async stop(): Promise<void> {
    await this.children.cleanup().catch((err) => console.error(`ha-lab: ${err instanceof Error ? err.message : String(err)}`));
    await Promise.all([this.nodes.a.stop(), this.nodes.b.stop()]);
  }

  /** The nodes' logs (across kills) for the kept-logs directory: name -> text. */
  nodeLogs(): Map<string, string> {
    const out = new Map<string, string>();
    for (const n of ["a", "b"] as const) {
      const s = this.nodes[n];
      if (!existsSync(s.work)) continue;
      for (const f of readdirSync(s.work)) if (/^socle(\.killed-\d+)?\.log$/.test(f)) out.set(`node-${n}.${f}`, readFileSync(join(s.work, f), "utf8"));
    }
    return out;
  }

  remove(): void {
    this.nodes.a.remove();
    this.nodes.b.remove();
  }
}

async function snifferChild(spec: { iface: string }): Promise<void> {
  const { openDhcpSocket } = await import("../../src/dhcp/net/socket.ts");
  const { nullLogger } = await import("../../src/log/logger.ts");
  const { readReply } = await import("../helpers/dhcp-reply.ts");
  await openDhcpSocket({
    iface: spec.iface,
    port: 68,
    log: nullLogger,
    onMessage(data, from) {
      const r = readReply(data, from.address);
      if (r) process.stdout.write(JSON.stringify(r) + "\n");
    },
  });
  process.stdout.write(`sniffer: listening on ${spec.iface} port 68\n`);
  // The socket keeps running until the parent kills this process.
  setInterval(() => {}, 1 << 30);
}

if (import.meta.main && process.env.SOCLE_HA_SNIFFER) {
  await snifferChild(JSON.parse(process.env.SOCLE_HA_SNIFFER) as { iface: string });
}
