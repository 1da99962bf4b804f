// The pair's virtual IP: the one address clients, relays and installers use, held by the active
// node as a secondary address on its LAN interface.
//
// Taking it: `ip addr add`, then gratuitous ARP, because the kernel announces nothing for a
// secondary address and the LAN would keep sending to the old holder's MAC until its ARP caches
// age out. Three rounds by default, at 0, 0.5 and 2 s: the first reaches the neighbours at once,
// the later ones cover a switch port or bridge that was still learning (STP listening, a link that
// just came up) and a frame lost under load.
//
// Leaving it: `ip addr del`. The danger is dying without leaving: after a kill -9 or a crash the
// kernel keeps the address and keeps answering ARP for it, so the LAN splits between two holders.
// A guard child covers that: a shell blocked reading a pipe whose only writer is this process. When
// this process ends, for any reason, the kernel closes the writer, the guard reads EOF and deletes
// the address. It runs in its own session, so a signal to our process group (a terminal's ^C, a
// supervisor killing the group) does not take it down first; and a SIGTERM, SIGHUP or SIGINT to
// the guard itself (systemd stopping the unit signals every process of its cgroup) makes it delete
// the address too. Only SIGKILL ends it without the delete: release() uses that, after deleting
// the address itself. cleanupStale() at start-up covers the rest (a kernel that kept the address
// while every process of the unit was SIGKILLed).

import type { Logger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { isInterfaceName, parseIpv4, sendGratuitousArp } from "../sys/arp.ts";

export interface VirtualIpOptions {
  /** Address and prefix length, "198.51.100.10/24". */
  cidr: string;
  /** The LAN interface that carries it, "lan0". */
  iface: string;
  log: Logger;
  /** Gratuitous ARP rounds on acquire (a request and a reply each); default 3, at 0, 0.5 and 2 s. */
  garpCount?: number;
  /** The VIP lives in the network namespace this process runs in; there is no option to reach into another. */
  netns?: never;
  /** How to run iproute2 (argv prefix); default `ip` from PATH, else `busybox ip`. */
  ip?: readonly string[];
  /** One gratuitous ARP round; default sys/arp.ts over a raw packet socket. */
  garp?: (iface: string, ip: string) => Promise<{ sent: number }>;
}

interface Guard {
  proc: Bun.Subprocess<"pipe", "ignore", "ignore">;
}

const MAX_GARP_COUNT = 10;

/** When each gratuitous ARP round goes out, in ms after the address is added: 0, 500, 2000, 4000, ... */
export function garpDelaysMs(count: number): number[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? 0 : i === 1 ? 500 : 2000 * 2 ** (i - 2)));
}

/** Checks "a.b.c.d/len" for a VIP: a host address (not the network or broadcast address) with a prefix 1-32. */
export function parseVipCidr(cidr: string): { address: string; prefix: number } {
  const bad = (why: string) => new SocleError("ValidationError", "ha", cidr, `VIP ${JSON.stringify(cidr)}${why}`);
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) throw bad(' is not an address with a prefix length ("198.51.100.10/24")');
  const address = m[1]!;
  const prefix = Number(m[2]);
  const bytes = parseIpv4(address);
  if (!bytes) throw bad(`: "${address}" is not an IPv4 address`);
  if (prefix < 1 || prefix > 32) throw bad(`: prefix length ${prefix} is outside 1-32`);
  if (prefix <= 30) {
    const n = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
    const host = n & (2 ** (32 - prefix) - 1);
    if (host === 0) throw bad(` is the network address of its /${prefix}`);
    if (host === 2 ** (32 - prefix) - 1) throw bad(` is the broadcast address of its /${prefix}`);
  }
  return { address, prefix };
}

function checkIface(iface: string): void {
  if (!isInterfaceName(iface)) {
    throw new SocleError("ValidationError", "ha", iface, `VIP interface ${JSON.stringify(iface)} is not an interface name (1-15 of letters, digits, _ . - @)`);
  }
}

export class VirtualIp {
  readonly cidr: string;
  readonly address: string;
  readonly iface: string;
  readonly #log: Logger;
  readonly #garpCount: number;
  readonly #ip: readonly string[] | undefined;
  readonly #garp: (iface: string, ip: string) => Promise<{ sent: number }>;
  #held = false;
  #guard: Guard | undefined;
  #timers: ReturnType<typeof setTimeout>[] = [];
  /** acquire and release run one at a time, in call order. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: VirtualIpOptions) {
    this.address = parseVipCidr(opts.cidr).address;
    checkIface(opts.iface);
    const count = opts.garpCount ?? 3;
    if (!Number.isInteger(count) || count < 0 || count > MAX_GARP_COUNT) {
      throw new SocleError("ValidationError", "ha", String(count), `VIP gratuitous ARP count ${count} is not a whole number from 0 to ${MAX_GARP_COUNT}`);
    }
    this.cidr = opts.cidr;
    this.iface = opts.iface;
    this.#log = opts.log;
    this.#garpCount = count;
    this.#ip = opts.ip;
    this.#garp = opts.garp ?? ((iface, ip) => sendGratuitousArp(iface, ip));
  }

  /** Whether this process holds the VIP (acquired and not released since). */
  held(): boolean {
    return this.#held;
  }

  /** The guard child's PID while the VIP is held. */
  get guardPid(): number | undefined {
    return this.#guard?.proc.pid;
  }

  /**
   * Adds the address (already present counts as success), starts the guard, sends the first
   * gratuitous ARP round and schedules the others. Resolves once the address is on the interface
   * and the first round has gone out (or failed: that is a warning, clients re-ARP in time).
   */
  acquire(): Promise<void> {
    return this.#serial(async () => {
      if (this.#held) return;
      const ip = this.#ip ?? ipCommand();
      // The guard starts first: from the moment the address exists, our death removes it.
      const guard = startGuard(ip, this.cidr, this.iface);
      const r = await runIp(ip, ["addr", "add", this.cidr, "dev", this.iface]);
      const already = r.code !== 0 && /file exists/i.test(r.stderr);
      if (r.code !== 0 && !already) {
        await stopGuard(guard);
        throw ipError("add", this.cidr, this.iface, r);
      }
      this.#guard = guard;
      this.#held = true;
      const n = this.#garpCount;
      this.#log.info(`VIP ${this.cidr} acquired on ${this.iface}; ${n} gratuitous ARP${n === 1 ? "" : "s"}`, {
        ...(already ? { note: "the address was already on the interface" } : {}),
        guardPid: guard.proc.pid,
      });
      const delays = garpDelaysMs(n);
      for (const [i, ms] of delays.entries()) {
        if (i === 0) continue;
        const t = setTimeout(() => void this.#announce(i + 1, n), ms);
        t.unref?.();
        this.#timers.push(t);
      }
      if (n > 0) await this.#announce(1, n);
    });
  }

  /**
   * Removes the address (already absent counts as success), stops pending gratuitous ARPs and
   * stops the guard without letting it act.
   */
  release(): Promise<void> {
    return this.#serial(async () => {
      for (const t of this.#timers.splice(0)) clearTimeout(t);
      const ip = this.#ip ?? ipCommand();
      // Delete before stopping the guard: if we die between the two, the guard's delete finds
      // nothing to do, instead of the address staying with nobody watching it.
      const r = await runIp(ip, ["addr", "del", this.cidr, "dev", this.iface]);
      const absent = r.code !== 0 && /cannot assign requested address|address not found/i.test(r.stderr);
      if (r.code !== 0 && !absent) throw ipError("del", this.cidr, this.iface, r);
      const guard = this.#guard;
      this.#guard = undefined;
      if (guard) await stopGuard(guard);
      const was = this.#held;
      this.#held = false;
      if (was || !absent) this.#log.info(`VIP ${this.cidr} released on ${this.iface}`, absent ? { note: "the address was already gone" } : undefined);
    });
  }

  /**
   * Removes a VIP left on the interface by an earlier run (crash, kill -9 under a supervisor that
   * also killed the guard). Run at start-up, before any promotion. True when an address was removed.
   */
  static async cleanupStale(cidr: string, iface: string, opts: { ip?: readonly string[] } = {}): Promise<boolean> {
    parseVipCidr(cidr);
    checkIface(iface);
    const r = await runIp(opts.ip ?? ipCommand(), ["addr", "del", cidr, "dev", iface]);
    if (r.code === 0) return true;
    if (/cannot assign requested address|address not found/i.test(r.stderr)) return false;
    throw ipError("del", cidr, iface, r);
  }

  async #announce(round: number, of: number): Promise<void> {
    if (!this.#held) return;
    try {
      const { sent } = await this.#garp(this.iface, this.address);
      this.#log.debug(`gratuitous ARP for ${this.address} on ${this.iface}`, { round: `${round}/${of}`, frames: sent });
    } catch (e) {
      this.#log.warn(`gratuitous ARP for ${this.address} on ${this.iface} failed; neighbours learn the new MAC only when their ARP cache expires`, {
        round: `${round}/${of}`,
        error: e,
      });
    }
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(op, op);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

interface IpResult {
  code: number;
  stderr: string;
}

function ipCommand(): string[] {
  const ip = Bun.which("ip") ?? Bun.which("ip", { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" });
  if (ip) return [ip];
  const busybox = Bun.which("busybox");
  if (busybox) return [busybox, "ip"];
  throw new SocleError("Unavailable", "ha", "ip", "the VIP needs iproute2 (`ip`) or busybox on PATH; neither was found");
}

async function runIp(ip: readonly string[], args: string[]): Promise<IpResult> {
  const argv = [...ip, ...args];
  let p;
  try {
    p = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  } catch (e) {
    throw new SocleError("Unavailable", "ha", argv[0]!, `cannot run ${argv.join(" ")}: ${(e as Error).message}`);
  }
  const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  return { code, stderr: stderr.trim() };
}

function ipError(verb: "add" | "del", cidr: string, iface: string, r: IpResult): SocleError {
  const said = r.stderr || `exit status ${r.code}`;
  const what = verb === "add" ? `cannot add VIP ${cidr} to ${iface}` : `cannot remove VIP ${cidr} from ${iface}`;
  if (/cannot find device|does not exist|no such device/i.test(said)) return new SocleError("ValidationError", "ha", iface, `${what}: no interface "${iface}" (ip: ${said})`);
  if (/not permitted|permission denied/i.test(said)) return new SocleError("Unavailable", "ha", cidr, `${what}: this needs CAP_NET_ADMIN (ip: ${said})`);
  return new SocleError("Unavailable", "ha", cidr, `${what}: ip ${verb} failed: ${said}`);
}

/**
 * The guard: `sh -c 'trap ... TERM HUP INT; while read -r _; do :; done; exec "$@"' socle-vip-guard <ip...> addr del
 * <cidr> dev <if>`, stdin a pipe from us, in its own session. The wait is the shell's own `read`,
 * so nothing it needs can be missing and fail early, which would delete the address we just
 * added. Its output goes nowhere: a guard holding our stdout or stderr would keep a supervisor's
 * log pipe open after we died.
 */
function startGuard(ip: readonly string[], cidr: string, iface: string): Guard {
  const argv = ["/bin/sh", "-c", 'trap \'exec "$@"\' TERM HUP INT; while read -r _; do :; done; exec "$@"', "socle-vip-guard", ...ip, "addr", "del", cidr, "dev", iface];
  let proc;
  try {
    proc = Bun.spawn(argv, { stdin: "pipe", stdout: "ignore", stderr: "ignore", detached: true });
  } catch (e) {
    throw new SocleError("Unavailable", "ha", cidr, `cannot start the VIP guard (/bin/sh): ${(e as Error).message}`);
  }
  // Neither the child nor our end of its pipe may keep this process alive.
  proc.unref();
  proc.stdin.unref();
  return { proc };
}

/** Ends the guard without its delete: SIGKILL to its process group (any other signal makes it delete). */
async function stopGuard(g: Guard): Promise<void> {
  if (g.proc.exitCode !== null || g.proc.signalCode !== null) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-g.proc.pid, sig);
    } catch {
      g.proc.kill(sig); // no such group (gone already, or its setsid failed): the shell alone
    }
  };
  signal("SIGKILL");
  await g.proc.exited;
}
