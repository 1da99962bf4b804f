// The whole Socle server (`bun src/main.ts serve`) inside a network namespace, driven through its
// API from inside that namespace (the API listens on the namespace's loopback, so the CLI runs there
// too), plus the small tools the DHCP end-to-end tests share: client hook scripts for udhcpc and
// dhclient, a UDP probe that sends raw datagrams from a client namespace, and polling with deadlines.
//
// The probe runs this very file as a child (`bun test/helpers/socle-netns.ts` with SOCLE_NETNS_PROBE
// set) inside the client namespace: it opens a device-bound socket, sends the given datagrams and
// prints every datagram it receives as one JSON line, until its time is up.

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { NetLab, RunResult, Spawned } from "./netns.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const BUN = process.execPath;
export const NETNS_ADMIN_PASSWORD = "netns-admin-horse-7";

export interface SocleNetnsOptions {
  /** Interfaces (inside ns) for --dhcp-interfaces; the start waits until each one is served. */
  interfaces: string[];
  /** Extra serve flags. */
  args?: string[];
  /** Data directory to use (kept by close()); default a fresh temporary one (removed by close()). */
  dataDir?: string;
  /** Words before the server's command line: a privilege drop such as `setpriv --reuid=...`. */
  wrap?: string[];
  /** The server's command; default `bun src/main.ts` from this checkout. */
  command?: string[];
  /** Leave TFTP and the HTTP file server on (by default only the API and DHCP run). */
  allServices?: boolean;
}

/** One JSON log line of the server (started with --log-format json). */
export interface LogEntry {
  time: string;
  level: string;
  subsystem: string;
  msg: string;
  [field: string]: unknown;
}

export class SocleInNetns {
  port = 0;
  private proc: Spawned | undefined;
  /** Output of earlier runs of this server (before restarts). */
  private earlier = "";

  private constructor(
    readonly lab: NetLab,
    readonly ns: string,
    readonly dataDir: string,
    private readonly ownsDataDir: boolean,
    private readonly opts: SocleNetnsOptions,
  ) {}

  static async start(lab: NetLab, ns: string, opts: SocleNetnsOptions): Promise<SocleInNetns> {
    const dir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "socle-netns-"));
    const s = new SocleInNetns(lab, ns, dir, opts.dataDir === undefined, opts);
    try {
      await s.launch();
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  /** PID of the running server process (`ip netns exec` and the wrap words exec it). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Everything the server printed, across restarts. */
  output(): string {
    return this.earlier + (this.proc?.output() ?? "");
  }

  /** The server's JSON log lines, across restarts. */
  logs(): LogEntry[] {
    const out: LogEntry[] = [];
    for (const line of this.output().split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        out.push(JSON.parse(line) as LogEntry);
      } catch {
        // a line cut by a kill: not a log entry
      }
    }
    return out;
  }

  private async launch(): Promise<void> {
    const argv = [
      ...(this.opts.wrap ?? []),
      ...(this.opts.command ?? [BUN, join(ROOT, "src/main.ts")]),
      "serve",
      "--data-dir",
      this.dataDir,
      "--dhcp-interfaces",
      this.opts.interfaces.join(","),
      ...(this.opts.allServices ? [] : ["--disable-tftp", "--disable-static"]),
      "--api-listen",
      "127.0.0.1",
      "--api-port",
      "0",
      "--log-format",
      "json",
      "--log-level",
      "debug",
      ...(this.opts.args ?? []),
    ];
    const proc = this.lab.spawn(this.ns, argv, { SOCLE_ADMIN_PASSWORD: NETNS_ADMIN_PASSWORD });
    this.proc = proc;
    const m = await proc.waitFor(/"api":"https:\/\/127\.0\.0\.1:(\d+)\/api\/v3"/, 20_000);
    this.port = Number(m[1]);
    // DHCP sockets: every selected interface must be open, at start or once it appeared.
    for (const iface of this.opts.interfaces) {
      await until(`Socle serves DHCP on ${iface}`, 10_000, () =>
        proc
          .output()
          .split("\n")
          .some((l) => (l.includes('"DHCP server listening"') && new RegExp(`"interfaces":"([^"]*,)?${iface}(,[^"]*)?"`).test(l)) || (l.includes("interface appeared") && l.includes(`"iface":"${iface}"`))),
      );
    }
  }

  /** Stop (SIGTERM, as an operator would) and start again on the same data directory. */
  async restart(): Promise<void> {
    await this.stopProcess();
    await this.launch();
  }

  private async stopProcess(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    await p.kill(5_000);
    this.earlier += p.output();
    this.proc = undefined;
  }

  /** Stop the server and remove its data directory when this helper made it. */
  async close(): Promise<void> {
    await this.stopProcess();
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Run the CLI against this server inside its namespace; never throws on a failed command. */
  async cliRaw(args: readonly string[]): Promise<RunResult> {
    const endpoint = `https://127.0.0.1:${this.port}`;
    const ca = join(this.dataDir, "pki", "ca.pem");
    return this.lab.exec(this.ns, [BUN, join(ROOT, "src/main.ts"), "-E", endpoint, "--ca-file", ca, "-U", "admin", "-P", NETNS_ADMIN_PASSWORD, ...args], 20_000);
  }

  /** Run the CLI and parse its JSON output; throws with the CLI's stderr when it fails. */
  async cli<T = any>(...args: string[]): Promise<T> {
    const r = await this.cliRaw(args);
    if (r.code !== 0) throw new Error(`socle ${args.join(" ")} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return (r.stdout.trim() ? JSON.parse(r.stdout) : undefined) as T;
  }

  /** The lease of `addr`, or undefined when the API has none (404). */
  async lease(addr: string): Promise<Lease | undefined> {
    const r = await this.cliRaw(["leases", "show", addr]);
    if (r.code !== 0) {
      if (/404|not found/i.test(r.stderr + r.stdout)) return undefined;
      throw new Error(`socle leases show ${addr} failed (${r.code}): ${r.stderr.trim()}`);
    }
    return JSON.parse(r.stdout) as Lease;
  }

  /** Poll the API until the lease of `addr` satisfies `ok`; returns it. */
  async waitLease(addr: string, what: string, ok: (l: Lease) => boolean, timeoutMs = 10_000): Promise<Lease> {
    let last: Lease | undefined;
    await until(() => `lease ${addr} ${what} (last seen: ${JSON.stringify(last)})`, timeoutMs, async () => {
      last = await this.lease(addr);
      return last !== undefined && ok(last);
    });
    return last!;
  }
}

export interface Lease {
  Addr: string;
  Token: string;
  State: string;
  ExpireTime: string;
  Via: string;
  Hostname: string;
}

/** Poll `ok` every 100 ms until it is true; throws naming `what` after timeoutMs. */
export async function until(what: string | (() => string), timeoutMs: number, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${typeof what === "string" ? what : what()}`);
    await Bun.sleep(100);
  }
}

// ---- DHCP clients -------------------------------------------------------------------------------

/**
 * A scratch directory with hook scripts for udhcpc and dhclient that append events to files. Made
 * on first use: a describe block that is skipped or filtered out (its afterAll never runs) leaves
 * nothing behind.
 */
export class ClientKit {
  private made: string | undefined;

  constructor(private readonly given?: string) {}

  get dir(): string {
    return (this.made ??= this.given ?? mkdtempSync(join(tmpdir(), "socle-clients-")));
  }

  /**
   * A udhcpc hook (`-s`): appends "EVENT ip=.. mask=.. serverid=.. siaddr=.. boot_file=.. bootfile=.."
   * to `<dir>/<name>.events`, and configures the address (renewals are unicast from it); with
   * `defaultRoute`, also a default route via the first router (a client behind a relay renews
   * straight to the server, routed).
   */
  udhcpcScript(name: string, opts: { defaultRoute?: boolean } = {}): { script: string; events: string } {
    const route = opts.defaultRoute ? `\n    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done` : "";
    const events = join(this.dir, `${name}.events`);
    const script = join(this.dir, `${name}.udhcpc.sh`);
    writeFileSync(
      script,
      `#!/bin/sh
echo "$1 ip=$ip mask=$mask serverid=$serverid siaddr=$siaddr boot_file=$boot_file bootfile=$bootfile lease=$lease router=$router" >> '${events}'
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"${route} ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
exit 0
`,
    );
    chmodSync(script, 0o755);
    writeFileSync(events, "");
    return { script, events };
  }

  /** A dhclient hook (`-sf`): appends "REASON ip=.. mask=.. serverid=.." and configures the address. */
  dhclientScript(name: string): { script: string; events: string; leaseFile: string; pidFile: string } {
    const events = join(this.dir, `${name}.events`);
    const script = join(this.dir, `${name}.dhclient.sh`);
    writeFileSync(
      script,
      `#!/bin/sh
echo "$reason ip=$new_ip_address mask=$new_subnet_mask serverid=$new_dhcp_server_identifier" >> '${events}'
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) ip addr flush dev "$interface"; ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
  EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev "$interface" ;;
esac
exit 0
`,
    );
    chmodSync(script, 0o755);
    writeFileSync(events, "");
    return { script, events, leaseFile: join(this.dir, `${name}.leases`), pidFile: join(this.dir, `${name}.pid`) };
  }

  remove(): void {
    if (this.made !== undefined) rmSync(this.made, { recursive: true, force: true });
  }
}

/** Event lines a hook script wrote so far. */
export function events(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** Wait until a hook event line matches `re`; returns the match. */
export async function waitEvent(file: string, re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
  let m: RegExpExecArray | null = null;
  await until(() => `${re} in ${file} (events: ${JSON.stringify(events(file))})`, timeoutMs, () => {
    for (const l of events(file)) if ((m = re.exec(l))) return true;
    return false;
  });
  return m!;
}

/** `busybox udhcpc` once in the foreground: obtain a lease and exit (no release). */
export function udhcpcOnce(lab: NetLab, ns: string, iface: string, script: string, extra: string[] = [], tries = 4): Promise<RunResult> {
  return lab.exec(ns, ["busybox", "udhcpc", "-i", iface, "-f", "-q", "-n", "-t", String(tries), "-T", "1", "-s", script, ...extra], 20_000);
}

/** A client port: a veth whose client end (with `mac`) is in clientNs and whose peer joins `bridge` in serverNs. */
export async function clientPort(lab: NetLab, clientNs: string, serverNs: string, bridge: string, tag: string, mac: string): Promise<string> {
  const name = lab.name(tag);
  const peer = lab.name(`${tag}p`);
  await lab.veth({ ns: clientNs, name }, { ns: serverNs, name: peer });
  await lab.ip(clientNs, "link", "set", name, "address", mac);
  await lab.ip(serverNs, "link", "set", peer, "master", bridge);
  return name;
}

// ---- raw UDP probe ----------------------------------------------------------------------------

export interface ProbeSpec {
  /** Interface the probe's socket is bound to (SO_BINDTODEVICE): works without an address on it. */
  iface: string;
  /** Local port; 68 to hear what servers broadcast to clients. */
  port: number;
  /** Datagrams to send, in order, `gapMs` apart. */
  sends: { address: string; port: number; hex: string }[];
  gapMs?: number;
  /** How long to keep listening after the last send. */
  listenMs: number;
}

export interface ProbeDatagram {
  from: string;
  hex: string;
}

/** Run the probe in `ns` to completion; returns what it received. */
export async function probe(lab: NetLab, ns: string, spec: ProbeSpec): Promise<ProbeDatagram[]> {
  const r = await lab.exec(ns, ["env", `SOCLE_NETNS_PROBE=${JSON.stringify(spec)}`, BUN, import.meta.path], 30_000);
  if (r.code !== 0) throw new Error(`probe in ${ns} failed (${r.code}): ${r.stderr.trim()}\n${r.stdout}`);
  const out: ProbeDatagram[] = [];
  for (const l of r.stdout.split("\n")) {
    if (!l.startsWith("{")) continue;
    const o = JSON.parse(l) as { recv?: ProbeDatagram };
    if (o.recv) out.push(o.recv);
  }
  return out;
}

async function probeChild(spec: ProbeSpec): Promise<void> {
  const { openDhcpSocket } = await import("../../src/dhcp/net/socket.ts");
  const { nullLogger } = await import("../../src/log/logger.ts");
  const sock = await openDhcpSocket({
    iface: spec.iface,
    port: spec.port,
    log: nullLogger,
    onMessage(data, from) {
      process.stdout.write(JSON.stringify({ recv: { from: `${from.address}:${from.port}`, hex: Buffer.from(data).toString("hex") } }) + "\n");
    },
  });
  for (const s of spec.sends) {
    if (!sock.send(Buffer.from(s.hex, "hex"), s.address, s.port)) throw new Error(`probe: cannot send ${s.hex.length / 2} bytes to ${s.address}:${s.port}`);
    await Bun.sleep(spec.gapMs ?? 20);
  }
  await Bun.sleep(spec.listenMs);
  sock.close();
}

if (import.meta.main && process.env.SOCLE_NETNS_PROBE) {
  await probeChild(JSON.parse(process.env.SOCLE_NETNS_PROBE) as ProbeSpec);
}
