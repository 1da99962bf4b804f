// A subnet with its numbers worked out: network, mask, broadcast and dynamic range as unsigned
// 32-bit integers, cached per SubnetConfig object. Matching is by containment; the most specific
// (longest prefix) subnet wins, so nested subnets behave predictably.

import { intToIp, ipIntOf } from "../../model/validate.ts";
import type { SubnetConfig } from "./backend.ts";

/** A subnet with its numbers worked out once. Addresses are unsigned 32-bit integers. */
export interface Scope {
  subnet: SubnetConfig;
  network: number;
  prefix: number;
  mask: number;
  broadcast: number;
  /** Dynamic range, inclusive; start > end when the subnet has none (proxy-only). */
  start: number;
  end: number;
}

const scopes = new WeakMap<SubnetConfig, Scope | null>();

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n" (host bits are masked off); undefined when malformed. */
export function parseCidr(cidr: string): { network: number; prefix: number } | undefined {
  const slash = cidr.indexOf("/");
  if (slash < 0) return undefined;
  const addr = ipIntOf(cidr.slice(0, slash));
  const p = cidr.slice(slash + 1);
  if (addr === undefined || !/^[0-9]{1,2}$/.test(p) || Number(p) > 32) return undefined;
  const prefix = Number(p);
  return { network: (addr & maskOf(prefix)) >>> 0, prefix };
}

/** The Scope of a subnet (cached per object; the backend hands out the same object until it changes). */
export function scopeOf(subnet: SubnetConfig): Scope | undefined {
  const cached = scopes.get(subnet);
  if (cached !== undefined) return cached ?? undefined;
  const c = parseCidr(subnet.Subnet);
  let scope: Scope | undefined;
  if (c) {
    const mask = maskOf(c.prefix);
    const start = subnet.ActiveStart ? ipIntOf(subnet.ActiveStart) : undefined;
    const end = subnet.ActiveEnd ? ipIntOf(subnet.ActiveEnd) : undefined;
    scope = {
      subnet,
      network: c.network,
      prefix: c.prefix,
      mask,
      broadcast: (c.network | ~mask) >>> 0,
      start: start ?? 1,
      end: end ?? 0,
    };
  }
  scopes.set(subnet, scope ?? null);
  return scope;
}

export function scopeContains(s: Scope, addr: number): boolean {
  return ((addr & s.mask) >>> 0) === s.network;
}

export function inRange(s: Scope, addr: number): boolean {
  return addr >= s.start && addr <= s.end;
}

export function maskString(s: Scope): string {
  return intToIp(s.mask);
}

/** The most specific subnet containing `addr`, enabled or not. */
export function findScope(subnets: readonly SubnetConfig[], addr: number): Scope | undefined {
  let best: Scope | undefined;
  for (const sn of subnets) {
    const s = scopeOf(sn);
    if (s && scopeContains(s, addr) && (!best || s.prefix > best.prefix)) best = s;
  }
  return best;
}
