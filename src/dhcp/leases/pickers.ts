// Address pickers, tried in the order a subnet lists them (Subnet.Pickers, DRP's names):
// - hint: the address the client asked for (option 50), if it may have it;
// - nextFree: the lowest address in the range that has never been leased (no lease record);
// - mostExpired: the address whose lease expired (or was released) longest ago.
// nextFree deliberately passes over addresses with an expired or released lease record: a client
// that comes back finds its old address still unclaimed (DRP and dnsmasq behave the same way), and
// mostExpired reclaims those records once the never-used addresses run out. Expired leases are free
// either way: hint and mostExpired hand them out.
// Pickers are pure over a PoolView; the lease engine decides what "may have" means.

import type { LeaseRecord } from "./backend.ts";

export interface PoolView {
  /** Dynamic range, inclusive, as unsigned 32-bit integers. */
  start: number;
  end: number;
  /** The address the client asked for (option 50), if any. */
  hint: number | undefined;
  /** The client may be given this address now (not ours, not reserved, held or leased by another). */
  usable(addr: number): boolean;
  /** The lease record of an address, if any. */
  lease(addr: number): LeaseRecord | undefined;
  /** Milliseconds since the epoch at which a record counts as expired, see leaseExpired. */
  now: number;
  /** nextFree's resume point: every address in [start, cursor) was taken at the last scan. */
  cursor: number;
  setCursor(addr: number): void;
}

export type Picker = (v: PoolView) => number | undefined;

/** Whether a lease record no longer binds its address (the engine adds offer holds on top). */
export function leaseExpired(l: LeaseRecord, now: number): boolean {
  if (l.State === "EXPIRED" || l.State === "RELEASED") return true;
  const t = Date.parse(l.ExpireTime);
  return !(t > now); // an unparsable time counts as expired rather than locking the address forever
}

export const hintPicker: Picker = (v) => {
  const h = v.hint;
  return h !== undefined && h >= v.start && h <= v.end && v.usable(h) ? h : undefined;
};

export const nextFreePicker: Picker = (v) => {
  const from = Math.max(v.start, Math.min(v.cursor, v.end + 1));
  for (let a = from; a <= v.end; a++) {
    if (v.lease(a) === undefined && v.usable(a)) {
      v.setCursor(a);
      return a;
    }
  }
  v.setCursor(v.end + 1);
  return undefined;
};

export const mostExpiredPicker: Picker = (v) => {
  let best: number | undefined;
  let bestTime = Infinity;
  for (let a = v.start; a <= v.end; a++) {
    const l = v.lease(a);
    if (!l || !leaseExpired(l, v.now) || !v.usable(a)) continue;
    const t = Date.parse(l.ExpireTime);
    const time = Number.isNaN(t) ? -Infinity : t;
    if (time < bestTime) {
      bestTime = time;
      best = a;
    }
  }
  return best;
};

export const PICKERS: Readonly<Record<string, Picker>> = {
  hint: hintPicker,
  nextFree: nextFreePicker,
  mostExpired: mostExpiredPicker,
};
