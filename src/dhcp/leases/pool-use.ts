// How full each subnet's dynamic pool is, for the metrics: one pass over the leases and the
// reservations, each placed in the most specific subnet that contains it (as requests are).
// A lease binds its address until it expires; a released or expired record does not (pickers.ts),
// and a declined address stays taken until its hold ends, so it counts.

import { ipIntOf } from "../../model/validate.ts";
import type { LeaseRecord, ReservationConfig, SubnetConfig } from "./backend.ts";
import { leaseExpired } from "./pickers.ts";
import { inRange, scopeContains, scopeOf, type Scope } from "./scope.ts";

export interface SubnetPoolUse {
  subnet: string;
  /** Addresses in the dynamic range (0 for a proxy-only or reservations-only subnet without one). */
  addresses: number;
  /** Addresses of the dynamic range bound by a lease now. */
  leased: number;
  /** Reservations inside the subnet (in its range or not). */
  reserved: number;
}

export function poolUse(
  subnets: readonly SubnetConfig[],
  leases: Iterable<LeaseRecord>,
  reservations: Iterable<Pick<ReservationConfig, "Addr">>,
  now: number,
): SubnetPoolUse[] {
  const nowIso = new Date(now).toISOString();
  const scopes: { scope: Scope; use: SubnetPoolUse }[] = [];
  const out: SubnetPoolUse[] = [];
  for (const sn of subnets) {
    const s = scopeOf(sn);
    const use = { subnet: sn.Name, addresses: s && s.end >= s.start ? s.end - s.start + 1 : 0, leased: 0, reserved: 0 };
    out.push(use);
    if (s) scopes.push({ scope: s, use });
  }
  // findScope's rule (the longest prefix containing the address), over scopes worked out once:
  // a hundred thousand leases would otherwise cost as many lookups per subnet.
  const owner = (addr: number) => {
    let best: (typeof scopes)[number] | undefined;
    for (const x of scopes) if (scopeContains(x.scope, addr) && (!best || x.scope.prefix > best.scope.prefix)) best = x;
    return best;
  };
  for (const l of leases) {
    const a = ipIntOf(l.Addr);
    const o = a === undefined ? undefined : owner(a);
    if (o && inRange(o.scope, a!) && binds(l, now, nowIso)) o.use.leased++;
  }
  for (const r of reservations) {
    const a = ipIntOf(r.Addr);
    const o = a === undefined ? undefined : owner(a);
    if (o) o.use.reserved++;
  }
  return out;
}

/**
 * !leaseExpired(l, now), without a Date.parse for the form the lease engine writes (toISOString:
 * fixed width, UTC), which sorts as it reads. Date.parse of 100,000 distinct strings is most of a
 * scrape's time, and the scrape runs on the thread that answers DHCP.
 */
export function binds(l: LeaseRecord, now: number, nowIso: string): boolean {
  if (l.State === "EXPIRED" || l.State === "RELEASED") return false;
  const t = l.ExpireTime;
  if (t.length === 24 && t.charCodeAt(23) === 90 /* Z */ && ISO.test(t)) return t > nowIso;
  return !leaseExpired(l, now);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
