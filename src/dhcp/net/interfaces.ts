// The IPv4 interfaces DHCP may serve, which of them --dhcp-interfaces selects, and a poller that
// reports interfaces appearing, vanishing or changing address (a USB NIC plugged in, a bridge
// created after start, an address added by the operator).
//
// An interface with several IPv4 addresses is served with the first one the kernel lists (its
// primary address): that becomes the server identifier and picks the subnet of direct clients.

import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import type { Logger } from "../../log/logger.ts";

export interface NetInterface {
  name: string;
  address: string;
  netmask: string;
  /** Network in CIDR form: "198.51.100.0/24". */
  cidr: string;
  mac: string;
}

export type RawInterfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

function ipToInt(ip: string): number {
  const p = ip.split(".").map(Number);
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0;
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function prefixLength(netmask: string): number {
  let m = ipToInt(netmask);
  let n = 0;
  while (m & 0x80000000 && n < 32) {
    n++;
    m = (m << 1) >>> 0;
  }
  return n;
}

/** "198.51.100.7" + "255.255.255.0" -> "198.51.100.0/24". */
export function networkCidr(address: string, netmask: string): string {
  const prefix = prefixLength(netmask);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return `${intToIp((ipToInt(address) & mask) >>> 0)}/${prefix}`;
}

/** True when `ip` lies inside `cidr` ("198.51.100.0/24"). */
export function cidrContains(cidr: string, ip: string): boolean {
  const [net, len] = cidr.split("/");
  const prefix = Number(len);
  if (!net || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return false;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(net) & mask) >>> 0);
}

/** Non-loopback interfaces with an IPv4 address, sorted by name. */
export function listInterfaces(raw: RawInterfaces = networkInterfaces()): NetInterface[] {
  const out: NetInterface[] = [];
  for (const [name, addrs] of Object.entries(raw)) {
    const v4 = addrs?.find((a) => a.family === "IPv4" && !a.internal);
    if (!v4) continue;
    out.push({ name, address: v4.address, netmask: v4.netmask, cidr: networkCidr(v4.address, v4.netmask), mac: v4.mac });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The interfaces `wanted` names (all of them when empty), and the wanted names not present. */
export function selectInterfaces(all: readonly NetInterface[], wanted: readonly string[]): { selected: NetInterface[]; missing: string[] } {
  if (wanted.length === 0) return { selected: [...all], missing: [] };
  const byName = new Map(all.map((i) => [i.name, i]));
  const selected: NetInterface[] = [];
  const missing: string[] = [];
  for (const name of new Set(wanted)) {
    const i = byName.get(name);
    if (i) selected.push(i);
    else missing.push(name);
  }
  return { selected, missing };
}

export interface InterfaceDiff {
  added: NetInterface[];
  removed: NetInterface[];
  changed: { before: NetInterface; after: NetInterface }[];
}

export function diffInterfaces(before: readonly NetInterface[], after: readonly NetInterface[]): InterfaceDiff {
  const old = new Map(before.map((i) => [i.name, i]));
  const now = new Map(after.map((i) => [i.name, i]));
  const diff: InterfaceDiff = { added: [], removed: [], changed: [] };
  for (const [name, a] of now) {
    const b = old.get(name);
    if (!b) diff.added.push(a);
    else if (b.address !== a.address || b.netmask !== a.netmask || b.mac !== a.mac) diff.changed.push({ before: b, after: a });
  }
  for (const [name, b] of old) if (!now.has(name)) diff.removed.push(b);
  return diff;
}

export function isEmptyDiff(d: InterfaceDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0;
}

export interface WatchOptions {
  /** --dhcp-interfaces; empty = every non-loopback IPv4 interface. */
  wanted: readonly string[];
  log: Logger;
  /** Called with each non-empty change after the first listing (which `current()` returns). */
  onChange(diff: InterfaceDiff, current: readonly NetInterface[]): void;
  pollMs?: number;
  /** Source of interfaces (tests); defaults to listInterfaces(). */
  list?: () => NetInterface[];
}

export interface InterfaceWatch {
  /** The selected interfaces as of the last poll. */
  current(): readonly NetInterface[];
  /** Poll now (the timer calls this); returns the change it reported. */
  poll(): InterfaceDiff;
  stop(): void;
}

/**
 * Select interfaces now and poll for changes. A wanted interface that does not exist is warned
 * about once and waited for; it is reported as added when it appears.
 */
export function watchInterfaces(opts: WatchOptions): InterfaceWatch {
  const list = opts.list ?? (() => listInterfaces());
  const warned = new Set<string>();
  const select = (): NetInterface[] => {
    let all: NetInterface[];
    try {
      all = list();
    } catch (err) {
      opts.log.warn("cannot list network interfaces", { error: (err as Error).message });
      return current;
    }
    const { selected, missing } = selectInterfaces(all, opts.wanted);
    for (const name of missing) {
      if (warned.has(name)) continue;
      warned.add(name);
      opts.log.warn(`interface "${name}" has no IPv4 address or does not exist (yet); waiting for it`, { iface: name });
    }
    for (const i of selected) warned.delete(i.name);
    return selected;
  };
  let current: NetInterface[] = [];
  current = select();
  const poll = (): InterfaceDiff => {
    const next = select();
    const diff = diffInterfaces(current, next);
    current = next;
    if (!isEmptyDiff(diff)) opts.onChange(diff, current);
    return diff;
  };
  const timer = setInterval(() => {
    try {
      poll();
    } catch (err) {
      opts.log.error("interface watch failed", { error: (err as Error).message });
    }
  }, opts.pollMs ?? 2000);
  timer.unref?.();
  return { current: () => current, poll, stop: () => clearInterval(timer) };
}
