// The local IPv4 addresses TFTP listens on by default, and the MTU behind each (RFC 2348 blksize
// must fit one unfragmented datagram on the client's link; firmware often cannot reassemble).

import { readFileSync } from "node:fs";
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import { ETHERNET_BLKSIZE, MAX_BLKSIZE } from "./options.ts";

export type RawInterfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

export interface LocalAddress {
  address: string;
  /** Interface name ("eth0"), when the address belongs to one. */
  iface: string | undefined;
}

/** Every IPv4 address of every interface (loopback included), sorted, each once. */
export function localIpv4Addresses(raw: RawInterfaces = networkInterfaces()): LocalAddress[] {
  const seen = new Map<string, LocalAddress>();
  for (const [name, addrs] of Object.entries(raw)) {
    for (const a of addrs ?? []) if (a.family === "IPv4" && !seen.has(a.address)) seen.set(a.address, { address: a.address, iface: name });
  }
  return [...seen.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

export function interfaceOf(address: string, raw: RawInterfaces = networkInterfaces()): string | undefined {
  for (const [name, addrs] of Object.entries(raw)) if (addrs?.some((a) => a.address === address)) return name;
  return undefined;
}

/** Largest blksize for an interface: MTU - 20 (IPv4) - 8 (UDP) - 4 (TFTP); 1468 when unknown. */
export function maxBlksizeFor(iface: string | undefined, readMtu: (iface: string) => string = readSysMtu): number {
  if (!iface || !/^[\w.@:-]+$/.test(iface)) return ETHERNET_BLKSIZE;
  try {
    const mtu = Number(readMtu(iface).trim());
    if (!Number.isInteger(mtu) || mtu < 576) return ETHERNET_BLKSIZE;
    return Math.min(MAX_BLKSIZE, mtu - 32);
  } catch {
    return ETHERNET_BLKSIZE;
  }
}

function readSysMtu(iface: string): string {
  return readFileSync(`/sys/class/net/${iface}/mtu`, "utf8");
}
