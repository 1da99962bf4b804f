// Gratuitous ARP: telling a LAN that an IPv4 address now lives behind this interface's MAC.
//
// `ip addr add` announces nothing for a secondary address (arp_notify acts only on link up and MAC
// changes), so whoever takes over an address must shout it: neighbours and switches still map it
// to the old holder's MAC and keep sending there until their cache entry ages out (minutes).
//
// The frame goes out through a raw AF_PACKET socket, opened through libc (bun:ffi); that needs
// CAP_NET_RAW. Without FFI or libc, `busybox arping` sends the same two forms (the appliance image
// and the lab both carry busybox).

import { readFileSync } from "node:fs";
import { openLibc } from "./libc.ts";

export type ArpOp = "request" | "reply";

/** Ethernet header (14) + ARP for IPv4 over Ethernet (28). */
export const GARP_FRAME_LENGTH = 42;

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ARP = 0x0806;
const ETH_P_IP = 0x0800;
const ARPHRD_ETHER = 1;
const OPCODE: Record<ArpOp, number> = { request: 1, reply: 2 };
const BROADCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
const IFNAMSIZ = 16;

const ERRNO: Record<number, string> = {
  1: "EPERM",
  6: "ENXIO",
  13: "EACCES",
  19: "ENODEV",
  22: "EINVAL",
  24: "EMFILE",
  90: "EMSGSIZE",
  97: "EAFNOSUPPORT",
  100: "ENETDOWN",
  105: "ENOBUFS",
};
const errnoName = (n: number) => ERRNO[n] ?? `errno ${n}`;

export type GarpFailure = "invalid-input" | "no-cap-net-raw" | "no-such-interface" | "not-ethernet" | "send-failed" | "unavailable";

export class GratuitousArpError extends Error {
  readonly reason: GarpFailure;
  constructor(reason: GarpFailure, message: string) {
    super(message);
    this.name = "GratuitousArpError";
    this.reason = reason;
  }
}

/** The system calls a packet socket needs; the real ones come from libc, tests pass fakes. */
export interface PacketLibc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, frame: Uint8Array, sockaddr: Uint8Array): number;
  close(fd: number): number;
  /** 0 when the interface does not exist in this network namespace. */
  ifNameToIndex(name: string): number;
  /** errno of the last failed call; read it before any other call. */
  errno(): number;
}

export interface GratuitousArpOptions {
  /** System calls; default libc through bun:ffi. null: act as if FFI were missing (busybox). */
  libc?: PacketLibc | null;
  /** busybox for the fallback; default the one on PATH. null: no fallback. */
  busybox?: string | null;
  /** Where interfaces are described; default /sys/class/net. */
  sysClassNet?: string;
}

/**
 * One gratuitous ARP round for `ip` on `iface`: a request and a reply, both broadcast.
 * `sent` counts frames that left. Throws GratuitousArpError: its message names the interface or
 * address at fault, or says that CAP_NET_RAW is missing.
 */
export async function sendGratuitousArp(iface: string, ip: string, opts: GratuitousArpOptions = {}): Promise<{ sent: number }> {
  checkIfaceName(iface);
  if (!parseIpv4(ip)) throw new GratuitousArpError("invalid-input", `gratuitous ARP: "${ip}" is not an IPv4 address (a.b.c.d)`);
  const libc = opts.libc === undefined ? await defaultLibc() : opts.libc;
  if (!libc) {
    const busybox = opts.busybox === undefined ? Bun.which("busybox") : opts.busybox;
    if (!busybox) {
      throw new GratuitousArpError("unavailable", `cannot send gratuitous ARP for ${ip} on ${iface}: bun:ffi/libc is unavailable and busybox (arping) is not installed`);
    }
    return busyboxArping(busybox, iface, ip);
  }

  const ifindex = libc.ifNameToIndex(iface);
  if (ifindex === 0) throw new GratuitousArpError("no-such-interface", `gratuitous ARP for ${ip}: no interface "${iface}" in this network namespace`);
  const mac = interfaceMac(iface, ifindex, opts.sysClassNet ?? "/sys/class/net");

  const fd = libc.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
  if (fd < 0) {
    const e = libc.errno();
    if (e === 1 || e === 13) {
      throw new GratuitousArpError("no-cap-net-raw", `sending gratuitous ARP for ${ip} on ${iface} needs CAP_NET_RAW (socket(AF_PACKET, SOCK_RAW) failed with ${errnoName(e)})`);
    }
    throw new GratuitousArpError("unavailable", `gratuitous ARP for ${ip} on ${iface}: socket(AF_PACKET, SOCK_RAW) failed with ${errnoName(e)}`);
  }
  try {
    const to = sockaddrLl(ifindex, BROADCAST);
    // Why both forms: RFC 5227 (section 3, "announcement") makes it a request with sender and
    // target protocol address both the announced address, and every RFC 826 receiver merges the
    // sender fields into an existing cache entry before it even looks at the opcode. Some gear
    // (older routers, some firewalls and embedded stacks) updates only from replies, and RFC 2002
    // (section 4.6) describes the reply form; Linux counts a reply as gratuitous only when the
    // target MAC equals the sender MAC (arp_is_garp), so the reply carries ours there. The two
    // frames cost 84 bytes on a LAN that is about to send all its traffic for this address to us.
    let sent = 0;
    for (const op of ["request", "reply"] as const) {
      const frame = gratuitousArpFrame(mac, ip, op);
      const n = libc.sendto(fd, frame, to);
      if (n !== GARP_FRAME_LENGTH) {
        const e = libc.errno();
        const why = e === 100 ? `interface ${iface} is down (ENETDOWN)` : `sendto failed with ${errnoName(e)}`;
        throw new GratuitousArpError("send-failed", `gratuitous ARP ${op} for ${ip} on ${iface}: ${why}`);
      }
      sent++;
    }
    return { sent };
  } finally {
    libc.close(fd);
  }
}

/**
 * The 42-byte gratuitous ARP frame (RFC 826 layout): broadcast Ethernet header from `mac`, then
 * ARP with sender = target = `ip`. The request's target MAC is zero (RFC 5227: ignored, SHOULD be
 * zero); the reply's is our own MAC (RFC 2002).
 */
export function gratuitousArpFrame(mac: string | Uint8Array, ip: string, op: ArpOp): Uint8Array {
  const hw = typeof mac === "string" ? parseMac(mac) : mac;
  if (!hw || hw.length !== 6) throw new GratuitousArpError("invalid-input", `gratuitous ARP: MAC ${JSON.stringify(typeof mac === "string" ? mac : [...mac])} is not a 6-byte Ethernet address`);
  const proto = parseIpv4(ip);
  if (!proto) throw new GratuitousArpError("invalid-input", `gratuitous ARP: "${ip}" is not an IPv4 address (a.b.c.d)`);
  const f = new Uint8Array(GARP_FRAME_LENGTH);
  const v = new DataView(f.buffer);
  f.set(BROADCAST, 0); // Ethernet destination
  f.set(hw, 6); // Ethernet source
  v.setUint16(12, ETH_P_ARP);
  v.setUint16(14, ARPHRD_ETHER); // hardware type
  v.setUint16(16, ETH_P_IP); // protocol type
  f[18] = 6; // hardware address length
  f[19] = 4; // protocol address length
  v.setUint16(20, OPCODE[op]);
  f.set(hw, 22); // sender hardware address
  f.set(proto, 28); // sender protocol address
  if (op === "reply") f.set(hw, 32); // target hardware address (zero in a request)
  f.set(proto, 38); // target protocol address
  return f;
}

/** struct sockaddr_ll for sending on `ifindex` to `dest` (family and ifindex in host order). */
export function sockaddrLl(ifindex: number, dest: Uint8Array): Uint8Array {
  const sa = new Uint8Array(20);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_PACKET, HOST_LE); // sll_family
  v.setUint16(2, ETH_P_ARP); // sll_protocol, network order
  v.setInt32(4, ifindex, HOST_LE); // sll_ifindex
  // sll_hatype (8) and sll_pkttype (10) are ignored on send.
  sa[11] = dest.length; // sll_halen
  sa.set(dest, 12); // sll_addr
  return sa;
}

const HOST_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function htons(v: number): number {
  return HOST_LE ? ((v & 0xff) << 8) | (v >>> 8) : v;
}

export function parseIpv4(ip: string): Uint8Array | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  return octets.every((o) => o <= 255) ? Uint8Array.from(octets) : undefined;
}

function parseMac(mac: string): Uint8Array | undefined {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(mac.trim());
  return m ? Uint8Array.from(m.slice(1, 7).map((h) => parseInt(h, 16))) : undefined;
}

/** Whether `name` can be a Linux interface name: 1-15 of letters, digits, _ . - @ (no "/", no ":"). */
export function isInterfaceName(name: string): boolean {
  return name.length > 0 && name.length < IFNAMSIZ && name !== "." && name !== ".." && /^[\w.@-]+$/.test(name);
}

function checkIfaceName(iface: string): void {
  if (!isInterfaceName(iface)) {
    throw new GratuitousArpError("invalid-input", `gratuitous ARP: ${JSON.stringify(iface)} is not an interface name (1-15 of letters, digits, _ . - @)`);
  }
}

/**
 * The interface's Ethernet MAC from sysfs. sysfs shows the network namespace it was mounted in
 * (`ip netns exec` remounts it, a bare setns does not), so its ifindex must match the kernel's.
 */
function interfaceMac(iface: string, ifindex: number, root: string): Uint8Array {
  const dir = `${root}/${iface}`;
  let sysIndex: string, type: string, address: string;
  try {
    sysIndex = readFileSync(`${dir}/ifindex`, "utf8").trim();
    type = readFileSync(`${dir}/type`, "utf8").trim();
    address = readFileSync(`${dir}/address`, "utf8").trim();
  } catch (e) {
    throw new GratuitousArpError(
      "no-such-interface",
      `gratuitous ARP: interface "${iface}" exists (ifindex ${ifindex}) but ${dir} cannot be read (${(e as Error).message}); is sysfs mounted for this network namespace?`,
    );
  }
  if (Number(sysIndex) !== ifindex) {
    throw new GratuitousArpError("no-such-interface", `gratuitous ARP: ${dir} describes ifindex ${sysIndex}, the kernel says "${iface}" is ${ifindex}: sysfs belongs to another network namespace`);
  }
  if (Number(type) !== ARPHRD_ETHER) throw new GratuitousArpError("not-ethernet", `gratuitous ARP: interface "${iface}" is not Ethernet (ARPHRD type ${type}); ARP does not run there`);
  const mac = parseMac(address);
  if (!mac) throw new GratuitousArpError("not-ethernet", `gratuitous ARP: interface "${iface}" has no Ethernet MAC (sysfs says ${JSON.stringify(address)})`);
  return mac;
}

/** The fallback: busybox arping sends one request (-U) and one reply (-A), as above. */
async function busyboxArping(busybox: string, iface: string, ip: string): Promise<{ sent: number }> {
  let sent = 0;
  for (const mode of ["-U", "-A"]) {
    const argv = [busybox, "arping", mode, "-c", "1", "-I", iface, ip];
    const p = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    if (code !== 0) {
      const msg = stderr.trim() || `exit status ${code}`;
      if (/not permitted|permission denied/i.test(msg)) {
        throw new GratuitousArpError("no-cap-net-raw", `sending gratuitous ARP for ${ip} on ${iface} needs CAP_NET_RAW (${argv.join(" ")}: ${msg})`);
      }
      // busybox binds its socket to the sender address, so it announces only what the interface holds.
      if (/cannot assign requested address/i.test(msg)) {
        throw new GratuitousArpError("send-failed", `gratuitous ARP for ${ip} on ${iface}: ${ip} is not assigned to ${iface} (${argv.join(" ")}: ${msg})`);
      }
      if (/no such device|not found/i.test(msg)) throw new GratuitousArpError("no-such-interface", `gratuitous ARP for ${ip}: no interface "${iface}" (${argv.join(" ")}: ${msg})`);
      throw new GratuitousArpError("send-failed", `gratuitous ARP for ${ip} on ${iface}: ${argv.join(" ")} failed: ${msg}`);
    }
    sent++;
  }
  return { sent };
}

let loading: Promise<PacketLibc | null> | undefined;

type Ptr = ReturnType<typeof import("bun:ffi").ptr>;

function defaultLibc(): Promise<PacketLibc | null> {
  // Type names as strings, so that this module loads where bun:ffi does not (openLibc says null).
  loading ??= openLibc({
    socket: { args: ["i32", "i32", "i32"], returns: "i32" },
    sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i64" }, // ssize_t, as a bigint
    close: { args: ["i32"], returns: "i32" },
    if_nametoindex: { args: ["ptr"], returns: "u32" },
  })
    .then((opened): PacketLibc | null => {
      if (!opened) return null;
      const s = opened.lib.symbols as unknown as {
        socket(domain: number, type: number, protocol: number): number;
        sendto(fd: number, buf: Ptr, len: number, flags: number, addr: Ptr, alen: number): number | bigint;
        close(fd: number): number;
        if_nametoindex(name: Ptr): number;
      };
      const { ptr } = opened.ffi;
      return {
        socket: (d, t, p) => s.socket(d, t, p),
        sendto: (fd, frame, sa) => Number(s.sendto(fd, ptr(frame), frame.length, 0, ptr(sa), sa.length)),
        close: (fd) => s.close(fd),
        ifNameToIndex: (name) => {
          const cname = new TextEncoder().encode(name + "\0");
          return s.if_nametoindex(ptr(cname));
        },
        errno: opened.errno,
      };
    })
    .catch(() => null);
  return loading;
}
