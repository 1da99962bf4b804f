// An HA pair in network namespaces, without VMs: two Socle nodes (`bun src/main.ts serve --ha-vip`)
// in namespaces A and B, their LAN ports on one bridge (namespace "lan") with a client namespace C
// for DHCP clients and a namespace W with an address for API clients, and a dedicated peer link
// between A and B:
//
//   A lan0 198.51.100.1/24 ─┐                ┌─ C c0 (DHCP clients, no address)
//   B lan0 198.51.100.2/24 ─┼─ br0 (ns lan) ─┤
//                           │                └─ W w0 198.51.100.250/24 (API writer)
//   A peer0 203.0.113.1/30 ─── B peer0 203.0.113.2/30        VIP 198.51.100.10/24
//
// A relay namespace R (ISC dhcrelay, its LAN leg 198.51.100.251 on br0, its client leg
// 203.0.113.129/25 to namespace E) forwards a remote segment's DHCP to the VIP, as a branch
// router's `ip helper-address` would; both nodes route 203.0.113.128/25 through it.
//
// A second bridge br1 with a client namespace D is there for a full partition: `partition()` moves
// B's LAN port to br1 and takes the peer link down, so each node has clients of its own and hears
// nothing of the other; `heal()` puts both back.
//
// The first node is enrolled and the second joined with the real CLI (`socle ha enrol`, `socle ha
// join`); both run until the test ends or kills them.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetLab, type RunResult, type Spawned } from "./netns.ts";
import { BUN, ROOT, until } from "./socle-netns.ts";

export const HA_VIP = "198.51.100.10";
export const HA_ADMIN_PASSWORD = "ha-pair-admin-otter-4";
export type Node = "a" | "b";

const LAN: Record<Node, string> = { a: "198.51.100.1", b: "198.51.100.2" };
const PEER: Record<Node, string> = { a: "203.0.113.1", b: "203.0.113.2" };

export interface HaStatusView {
  Node: string;
  State: string;
  Term: number;
  HoldsVip: boolean;
  Seq: number;
  FailoverSafe: boolean;
  Why: string[];
  Reason: string;
  Peer: { State: string; Paths: { Address: string; Up: boolean }[] };
  LagSeq: number;
}

export class HaPairLab {
  readonly lab = new NetLab();
  readonly ns = {} as Record<Node | "lan" | "c" | "d" | "w" | "r" | "e", string>;
  readonly dirs: Record<Node, string>;
  readonly procs: Partial<Record<Node, Spawned>> = {};
  /** Output of earlier runs of each node (before kills and restarts). */
  private readonly earlier: Record<Node, string> = { a: "", b: "" };
  readonly work = mkdtempSync(join(tmpdir(), "socle-ha-pair-"));

  private constructor() {
    this.dirs = { a: join(this.work, "a"), b: join(this.work, "b") };
  }

  static async up(): Promise<HaPairLab> {
    const p = new HaPairLab();
    try {
      await p.topology();
    } catch (err) {
      await p.down();
      throw err;
    }
    return p;
  }

  private async topology(): Promise<void> {
    const lab = this.lab;
    this.ns.a = await lab.ns("ha-a");
    this.ns.b = await lab.ns("ha-b");
    this.ns.lan = await lab.ns("ha-l");
    this.ns.c = await lab.ns("ha-c");
    this.ns.w = await lab.ns("ha-w");
    this.ns.d = await lab.ns("ha-d");
    const port = (tag: string) => lab.name(tag);
    await lab.veth({ ns: this.ns.a, name: "lan0" }, { ns: this.ns.lan, name: port("pa") });
    await lab.veth({ ns: this.ns.b, name: "lan0" }, { ns: this.ns.lan, name: port("pb") });
    await lab.veth({ ns: this.ns.c, name: "c0" }, { ns: this.ns.lan, name: port("pc") });
    await lab.veth({ ns: this.ns.w, name: "w0" }, { ns: this.ns.lan, name: port("pw") });
    await lab.bridge(this.ns.lan, "br0", [port("pa"), port("pb"), port("pc"), port("pw")]);
    await lab.veth({ ns: this.ns.d, name: "d0" }, { ns: this.ns.lan, name: port("pd") });
    await lab.bridge(this.ns.lan, "br1", [port("pd")]);
    await lab.veth({ ns: this.ns.a, name: "peer0" }, { ns: this.ns.b, name: "peer0" });
    for (const n of ["a", "b"] as const) {
      await lab.addr(this.ns[n], "lan0", `${LAN[n]}/24`);
      await lab.addr(this.ns[n], "peer0", `${PEER[n]}/30`);
    }
    await lab.addr(this.ns.w, "w0", "198.51.100.250/24");
    this.ns.r = await lab.ns("ha-r");
    this.ns.e = await lab.ns("ha-e");
    await lab.veth({ ns: this.ns.r, name: "r1" }, { ns: this.ns.lan, name: port("pr") });
    await lab.ip(this.ns.lan, "link", "set", port("pr"), "master", "br0");
    await lab.veth({ ns: this.ns.e, name: "e0" }, { ns: this.ns.r, name: "r0" });
    await lab.addr(this.ns.r, "r1", "198.51.100.251/24");
    await lab.addr(this.ns.r, "r0", "203.0.113.129/25");
    for (const n of ["a", "b"] as const) await lab.ip(this.ns[n], "route", "add", "203.0.113.128/25", "via", "198.51.100.251");
  }

  /** Start node `n` on its data directory (the first start of "a" makes the pair's first node). */
  start(n: Node): Spawned {
    const other: Node = n === "a" ? "b" : "a";
    const argv = [
      BUN,
      join(ROOT, "src/main.ts"),
      "serve",
      "--data-dir",
      this.dirs[n],
      "--ha-vip",
      `${HA_VIP}/24`,
      "--ha-node-name",
      `node-${n}`,
      "--ha-peer",
      `${PEER[other]},${LAN[other]}`,
      "--dhcp-interfaces",
      "lan0",
      "--disable-tftp",
      "--disable-static",
      "--log-format",
      "json",
    ];
    const p = this.lab.spawn(this.ns[n], argv, { SOCLE_ADMIN_PASSWORD: HA_ADMIN_PASSWORD });
    this.procs[n] = p;
    return p;
  }

  /** kill -9 node `n`; resolves once it is gone. */
  async kill9(n: Node): Promise<void> {
    const p = this.procs[n];
    if (!p) throw new Error(`node ${n} is not running`);
    process.kill(p.pid, "SIGKILL");
    await p.proc.exited;
    this.earlier[n] += p.output();
    delete this.procs[n];
  }

  /** SIGTERM, as an operator would. */
  async stop(n: Node): Promise<void> {
    const p = this.procs[n];
    if (!p) return;
    await p.kill(5000);
    this.earlier[n] += p.output();
    delete this.procs[n];
  }

  output(n: Node): string {
    return this.earlier[n] + (this.procs[n]?.output() ?? "");
  }

  /** The role changes node `n` logged ("standby -> partner-down: <reason>"), across restarts. */
  transitions(n: Node): string[] {
    const out: string[] = [];
    for (const l of this.output(n).split("\n")) {
      if (!l.startsWith("{")) continue;
      try {
        const e = JSON.parse(l) as { msg?: string };
        if (e.msg?.startsWith("HA ") && e.msg.includes(" -> ")) out.push(e.msg.slice(3));
      } catch {
        // a line cut by a kill
      }
    }
    return out;
  }

  /** The CLI against node `n`'s own API (inside its namespace); never throws. */
  cli(n: Node, args: readonly string[], stdin?: string): Promise<RunResult> {
    const base = [BUN, join(ROOT, "src/main.ts")];
    const client = ["-E", "https://127.0.0.1:8092", "--ca-file", join(this.dirs[n], "pki", "ca.pem"), "-U", "admin", "-P", HA_ADMIN_PASSWORD];
    if (stdin === undefined) return this.lab.exec(this.ns[n], [...base, ...client, ...args], 30_000);
    return this.lab.exec(this.ns[n], ["sh", "-c", 'printf "%s\\n" "$0" | "$@"', stdin, ...base, ...args], 30_000);
  }

  async cliJson<T = any>(n: Node, ...args: string[]): Promise<T> {
    const r = await this.cli(n, [...args, "-o", "json"]);
    if (r.code !== 0) throw new Error(`node ${n}: socle ${args.join(" ")} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Node `n`'s HA status, or undefined when it serves no API (a cold standby, or down). */
  async status(n: Node): Promise<HaStatusView | undefined> {
    if (!this.procs[n]) return undefined;
    const r = await this.cli(n, ["ha", "status", "-o", "json"]);
    return r.code === 0 ? (JSON.parse(r.stdout) as HaStatusView) : undefined;
  }

  /** The node that holds the VIP and serves, once exactly one does. */
  async active(timeoutMs = 20_000): Promise<Node> {
    let found: Node | undefined;
    await until("one active node", timeoutMs, async () => {
      const serving: Node[] = [];
      for (const n of ["a", "b"] as const) {
        const s = await this.status(n);
        if (s?.HoldsVip) serving.push(n);
      }
      found = serving.length === 1 ? serving[0] : undefined;
      return found !== undefined;
    });
    return found!;
  }

  /** Wait until the active node says a failover is safe now. */
  async waitSafe(timeoutMs = 30_000): Promise<Node> {
    let last: HaStatusView | undefined;
    let node: Node = "a";
    await until(() => `failover safe (last: ${JSON.stringify(last?.Why)} ${last?.State})`, timeoutMs, async () => {
      node = await this.active(timeoutMs);
      last = await this.status(node);
      return last?.FailoverSafe === true;
    });
    return node;
  }

  /** The VIP's presence on node `n`'s LAN interface. */
  async holdsVipInKernel(n: Node): Promise<boolean> {
    const r = await this.lab.exec(this.ns[n], ["ip", "-4", "-o", "addr", "show", "dev", "lan0"]);
    return r.stdout.includes(`${HA_VIP}/24`);
  }

  /** ISC dhcrelay in R, forwarding E's segment to the VIP only. */
  startRelay(): Spawned {
    return this.lab.spawn(this.ns.r, ["dhcrelay", "-4", "-d", "-pf", join(this.work, "dhcrelay.pid"), "-id", "r0", "-iu", "r1", HA_VIP]);
  }

  /** A full partition: B's LAN port on the other bridge (with D's clients), the peer link down. */
  async partition(): Promise<void> {
    await this.lab.ip(this.ns.lan, "link", "set", this.lab.name("pb"), "master", "br1");
    await this.lab.ip(this.ns.b, "link", "set", "peer0", "down");
  }

  async heal(): Promise<void> {
    await this.lab.ip(this.ns.lan, "link", "set", this.lab.name("pb"), "master", "br0");
    await this.lab.ip(this.ns.b, "link", "set", "peer0", "up");
  }

  /** First node, subnet, enrolment, join, second node; resolves when a failover is safe. */
  async formPair(): Promise<void> {
    const a = this.start("a");
    await a.waitFor(/"msg":"socle started"/, 30_000);
    const subnet = { Name: "lan", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.100", ActiveEnd: "198.51.100.199", ActiveLeaseTime: 600, Options: [{ Code: 3, Value: "198.51.100.1" }] };
    const relayed = { Name: "relayed", Subnet: "203.0.113.128/25", ActiveStart: "203.0.113.140", ActiveEnd: "203.0.113.190", ActiveLeaseTime: 600, Options: [{ Code: 3, Value: "203.0.113.129" }] };
    for (const s of [subnet, relayed]) {
      const made = await this.cli("a", ["subnets", "create", JSON.stringify(s)]);
      if (made.code !== 0) throw new Error(`subnet ${s.Name}: ${made.stderr}`);
    }
    const ticket = await this.cliJson<{ Secret: string; CaPin: string; Address: string; Port: number }>("a", "ha", "enrol");
    const joined = await this.cli(
      "b",
      ["ha", "join", ticket.Address, "--port", String(ticket.Port), "--ca-pin", ticket.CaPin, "--node-name", "node-b", "--lan-address", LAN.b, "--data-dir", this.dirs.b],
      ticket.Secret,
    );
    if (joined.code !== 0) throw new Error(`ha join: ${joined.stderr.trim() || joined.stdout.trim()}`);
    this.start("b");
    await this.waitSafe(30_000);
  }

  async down(): Promise<void> {
    await this.lab.cleanup();
    rmSync(this.work, { recursive: true, force: true });
  }
}
