// The lease engine: which address a client gets, over an injected DhcpBackend and clock.
//
// - Offers live in memory only (OFFER_HOLD_MS): a DISCOVER costs no disk write. The hold is taken
//   synchronously, so two DISCOVERs handled at once never get the same address.
// - A lease is written on DHCPACK (before the ACK leaves: RFC 2131 4.3.1 "commit the binding to
//   persistent storage"), on DHCPDECLINE (State DECLINE for DECLINE_HOLD_SECONDS) and on DHCPRELEASE
//   (State RELEASED; the record stays so that the same MAC finds the same address again).
// - A REQUEST takes the same in-memory hold before it awaits the write, so two clients requesting
//   one address at once cannot both be ACKed.
// - Order of choice: the client's reservation in this subnet; the address already offered to it;
//   its previous address in this subnet; then the subnet's pickers (pickers.ts).
// - Every dynamic address also needs the AllocationPolicy's consent (backend.ts), asked afresh for
//   each packet: mayRenew when the client holds a live lease on it, mayAllocate otherwise; its
//   leaseSeconds caps the lease time offered, ACKed and stored. Reservations bypass the policy. A
//   client whose lease may not be renewed gets a DHCPNAK to its REQUEST and, on its next DISCOVER,
//   an address the policy allows. An address the policy refuses counts as taken for nextFree's
//   cursor: when the policy widens, nextFree finds it again after CURSOR_TTL_MS at the latest.

import { ipIntOf } from "../../model/validate.ts";
import { ALLOW_ALL, type AllocationPolicy, type DhcpBackend, type LeaseRecord, type ReservationConfig, type SubnetConfig } from "./backend.ts";
import { leaseExpired, PICKERS, type PoolView } from "./pickers.ts";
import { inRange, scopeContains, type Scope } from "./scope.ts";

/** How long an offered address stays held for the client (RFC 2131 leaves it to the server). */
export const OFFER_HOLD_MS = 60_000;
/** How long a declined address (RFC 2131 4.3.3: in use by someone else) is not handed out. */
export const DECLINE_HOLD_SECONDS = 600;
/** nextFree's scan position is trusted this long (leases deleted through the API free addresses). */
const CURSOR_TTL_MS = 10_000;
/** Expired offer holds are swept after this many offers (besides lazy removal on lookup). */
const SWEEP_EVERY = 256;

export function ipOf(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Subnet hands out dynamic addresses (not disabled, proxy-only, unmanaged or reservations-only). */
export function servesDynamic(s: SubnetConfig): boolean {
  return s.Enabled && !s.Proxy && !s.Unmanaged && !s.OnlyReservations;
}

function optionSeconds(options: readonly { Code: number; Value: string }[]): number | undefined {
  const o = options.find((x) => x.Code === 51);
  if (!o || !/^[0-9]{1,10}$/.test(o.Value.trim())) return undefined;
  const n = Number(o.Value.trim());
  return n <= 0xffffffff ? n : undefined;
}

/**
 * Lease time in seconds. A configured option 51 wins (the record must match what the client is
 * told): the reservation's, then the subnet's; else Duration / ReservedLeaseTime / ActiveLeaseTime.
 */
export function leaseSeconds(subnet: SubnetConfig, res: ReservationConfig | undefined): number {
  if (res) return optionSeconds(res.Options) ?? optionSeconds(subnet.Options) ?? (res.Duration || subnet.ReservedLeaseTime);
  return optionSeconds(subnet.Options) ?? subnet.ActiveLeaseTime;
}

export interface Grant {
  addr: string;
  seconds: number;
  /** Set when the address comes from a reservation (its options and NextServer apply). */
  reservation: ReservationConfig | undefined;
}

/** `exhausted`: the subnet could give this client an address but has none left (worth a warning). */
export type OfferResult = { grant: Grant; reason?: undefined } | { grant?: undefined; reason: string; exhausted: boolean };
export type CommitResult = { grant: Grant; nak?: undefined } | { grant?: undefined; nak: string };

export interface CommitInfo {
  /** Relay (giaddr) or "". */
  via: string;
  hostname: string;
  /** Our address on the client's link: never handed out. */
  serverAddress: string;
}

interface Hold {
  mac: string;
  addr: number;
  scope: Scope;
  expires: number;
}

export class LeaseEngine {
  readonly #backend: DhcpBackend;
  readonly #now: () => number;
  readonly #policy: AllocationPolicy;
  readonly #byMac = new Map<string, Hold>();
  readonly #byAddr = new Map<number, Hold>();
  readonly #cursors = new WeakMap<Scope, { at: number; until: number }>();
  #offersSinceSweep = 0;

  constructor(opts: { backend: DhcpBackend; now?: () => number; policy?: AllocationPolicy }) {
    this.#backend = opts.backend;
    this.#now = opts.now ?? Date.now;
    this.#policy = opts.policy ?? ALLOW_ALL;
  }

  /** Offer holds currently in memory (expired ones may linger until the next sweep). */
  get heldOffers(): number {
    return this.#byMac.size;
  }

  /** The client's reservation if it lies in this subnet. */
  reservationIn(scope: Scope, mac: string): ReservationConfig | undefined {
    const r = this.#backend.reservationByMac(mac);
    if (!r) return undefined;
    const a = ipIntOf(r.Addr);
    return a !== undefined && scopeContains(scope, a) ? r : undefined;
  }

  /** DHCPDISCOVER: choose an address for `mac` and hold it for OFFER_HOLD_MS. */
  offer(mac: string, scope: Scope, requested: string | undefined, serverAddress: string): OfferResult {
    const now = this.#now();
    if (++this.#offersSinceSweep >= SWEEP_EVERY) this.#sweep(now);
    const server = ipIntOf(serverAddress);
    const subnet = scope.subnet;
    const res = this.reservationIn(scope, mac);
    if (res) {
      const a = ipIntOf(res.Addr)!;
      if (!this.#usable(scope, a, mac, server, now)) {
        return { reason: `reserved address "${res.Addr}" is in use by another client or was declined`, exhausted: false };
      }
      this.#hold(scope, mac, a, now);
      return { grant: { addr: res.Addr, seconds: leaseSeconds(subnet, res), reservation: res } };
    }
    if (!servesDynamic(subnet)) return { reason: `subnet "${subnet.Name}" ${whyNoDynamic(subnet)}`, exhausted: false };
    if (scope.start > scope.end) return { reason: `subnet "${subnet.Name}" has no dynamic range`, exhausted: false };

    const pick = (a: number): OfferResult => {
      const seconds = this.#cappedSeconds(leaseSeconds(subnet, undefined), ipOf(a), mac, now);
      this.#hold(scope, mac, a, now);
      return { grant: { addr: ipOf(a), seconds, reservation: undefined } };
    };
    const held = this.#byMac.get(mac);
    if (held && held.expires > now && inRange(scope, held.addr) && this.#usable(scope, held.addr, mac, server, now) && !this.#refusal(held.addr, mac, now)) {
      return pick(held.addr);
    }
    const prev = this.#previous(scope, mac, server, now);
    if (prev !== undefined) return pick(prev);

    const withheld = new Set<number>(); // several pickers may look at one address
    const usable = (a: number): boolean => {
      if (!this.#usable(scope, a, mac, server, now)) return false;
      if (this.#refusal(a, mac, now) === undefined) return true;
      withheld.add(a);
      return false;
    };

    const cursorState = this.#cursors.get(scope);
    const view: PoolView = {
      start: scope.start,
      end: scope.end,
      hint: requested === undefined ? undefined : ipIntOf(requested),
      now,
      usable,
      lease: (a) => this.#backend.leaseByAddr(ipOf(a)),
      cursor: cursorState && cursorState.until > now ? cursorState.at : scope.start,
      setCursor: (a) => this.#cursors.set(scope, { at: a, until: now + CURSOR_TTL_MS }),
    };
    for (const name of subnet.Pickers) {
      const a = PICKERS[name]?.(view);
      if (a !== undefined) return pick(a);
    }
    const policyNote = withheld.size > 0 ? `; the allocation policy withheld ${withheld.size} free address${withheld.size === 1 ? "" : "es"}` : "";
    return { reason: `no free address in ${ipOf(scope.start)}-${ipOf(scope.end)} of subnet "${subnet.Name}" (pickers ${subnet.Pickers.join(", ") || "none"}${policyNote})`, exhausted: true };
  }

  /**
   * DHCPREQUEST: bind `addrText` to `mac` and persist the lease (State ACK) before resolving.
   * Resolves with a reason for DHCPNAK when the client may not have the address.
   */
  async commit(mac: string, scope: Scope, addrText: string, info: CommitInfo): Promise<CommitResult> {
    const now = this.#now();
    const subnet = scope.subnet;
    const addr = ipIntOf(addrText);
    if (addr === undefined) return { nak: `requested address "${addrText}" is not an IPv4 address` };
    if (!scopeContains(scope, addr)) return { nak: `requested address "${addrText}" is not on subnet "${subnet.Name}" (${subnet.Subnet})` };
    const res = this.reservationIn(scope, mac);
    if (res && res.Addr !== addrText) return { nak: `client has the reserved address "${res.Addr}", not "${addrText}"` };
    if (!res) {
      const other = this.#backend.reservationByAddr(addrText);
      if (other && other.Token !== mac) return { nak: `address "${addrText}" is reserved for another client` };
      if (!servesDynamic(subnet)) return { nak: `subnet "${subnet.Name}" ${whyNoDynamic(subnet)}` };
      if (!inRange(scope, addr)) return { nak: `address "${addrText}" is outside the range ${ipOf(scope.start)}-${ipOf(scope.end)} of subnet "${subnet.Name}"` };
    }
    if (!this.#usable(scope, addr, mac, ipIntOf(info.serverAddress), now)) {
      return { nak: `address "${addrText}" is in use by another client or was declined` };
    }
    if (!res) {
      const refused = this.#refusal(addr, mac, now);
      if (refused) return { nak: refused };
    }
    const seconds = res ? leaseSeconds(subnet, res) : this.#cappedSeconds(leaseSeconds(subnet, undefined), addrText, mac, now);
    this.#hold(scope, mac, addr, now); // taken before the await: a concurrent REQUEST for it now gets a NAK
    const lease: LeaseRecord = {
      Addr: addrText,
      Token: mac,
      Strategy: "MAC",
      State: "ACK",
      ExpireTime: new Date(now + seconds * 1000).toISOString(),
      // A renewal comes straight from the client, without the relay: the link keeps its relay.
      Via: info.via || this.#backend.leaseByAddr(addrText)?.Via || "",
      Hostname: info.hostname,
    };
    try {
      await this.#backend.saveLease(lease);
    } catch (e) {
      this.#unhold(mac, true);
      throw e;
    }
    this.#unhold(mac, false); // the persisted lease protects the address from here on
    // One binding per client per subnet: an older live lease of this MAC elsewhere in the subnet ends.
    for (const l of this.#backend.leasesByMac(mac)) {
      const a = ipIntOf(l.Addr);
      if (l.Addr === addrText || a === undefined || !scopeContains(scope, a) || l.State !== "ACK" || leaseExpired(l, now)) continue;
      await this.#backend.saveLease({ ...l, State: "EXPIRED", ExpireTime: new Date(now).toISOString() });
    }
    return { grant: { addr: addrText, seconds, reservation: res } };
  }

  /** Whether we hold any record that `addr` is (or was) this client's: init-reboot needs one. */
  knows(scope: Scope, mac: string, addrText: string): boolean {
    if (this.reservationIn(scope, mac)?.Addr === addrText) return true;
    const held = this.#byMac.get(mac);
    if (held && ipOf(held.addr) === addrText && held.expires > this.#now()) return true;
    return this.#backend.leaseByAddr(addrText)?.Token === mac;
  }

  /** The client refused an offer (selecting REQUEST to another server): free its hold at once. */
  dropOffer(mac: string): void {
    this.#unhold(mac, true);
  }

  /** DHCPDECLINE: the address is in use on the wire; keep it out of circulation. */
  async decline(mac: string, addrText: string, via: string): Promise<string | undefined> {
    const now = this.#now();
    const held = this.#byMac.get(mac);
    const lease = this.#backend.leaseByAddr(addrText);
    const ours = (held !== undefined && ipOf(held.addr) === addrText) || lease?.Token === mac;
    if (!ours) return `address "${addrText}" was neither offered nor leased to this client`;
    this.#unhold(mac, false);
    await this.#backend.saveLease({
      Addr: addrText,
      Token: mac,
      Strategy: "MAC",
      State: "DECLINE",
      ExpireTime: new Date(now + DECLINE_HOLD_SECONDS * 1000).toISOString(),
      Via: via,
      Hostname: lease?.Hostname ?? "",
    });
    return undefined;
  }

  /** DHCPRELEASE: the client gives the address back; the record stays (State RELEASED). */
  async release(mac: string, addrText: string): Promise<string | undefined> {
    this.#unhold(mac, true);
    const lease = this.#backend.leaseByAddr(addrText);
    if (!lease || lease.Token !== mac) return `address "${addrText}" is not leased to this client`;
    if (lease.State === "RELEASED") return undefined;
    await this.#backend.saveLease({ ...lease, State: "RELEASED", ExpireTime: new Date(this.#now()).toISOString() });
    return undefined;
  }

  /** The client's most recent address in this subnet that it may have again. */
  #previous(scope: Scope, mac: string, server: number | undefined, now: number): number | undefined {
    let best: number | undefined;
    let bestTime = -Infinity;
    for (const l of this.#backend.leasesByMac(mac)) {
      if (l.Token !== mac || l.State === "DECLINE") continue;
      const a = ipIntOf(l.Addr);
      if (a === undefined || !inRange(scope, a) || !this.#usable(scope, a, mac, server, now) || this.#refusal(a, mac, now)) continue;
      const t = Date.parse(l.ExpireTime);
      if (!(t <= bestTime)) {
        best = a;
        bestTime = Number.isNaN(t) ? bestTime : t;
      }
    }
    return best;
  }

  /**
   * Why the allocation policy refuses dynamic address `a` to `mac` now, or undefined when it
   * consents: a renewal when the client holds a live lease on it, a new allocation otherwise.
   */
  #refusal(a: number, mac: string, now: number): string | undefined {
    if (this.#policy === ALLOW_ALL) return undefined;
    const text = ipOf(a);
    const l = this.#backend.leaseByAddr(text);
    if (l && l.Token === mac && l.State === "ACK" && !leaseExpired(l, now)) {
      return this.#policy.mayRenew(text, mac, now) ? undefined : `the lease on "${text}" may not be renewed by this server now (allocation policy)`;
    }
    return this.#policy.mayAllocate(text, mac, now) ? undefined : `address "${text}" may not be granted by this server now (allocation policy)`;
  }

  /** The policy's lease time for a dynamic grant: at most `seconds`; a nonsensical answer is an error, never a longer lease. */
  #cappedSeconds(seconds: number, addr: string, mac: string, now: number): number {
    const c = this.#policy.leaseSeconds(addr, mac, seconds, now);
    if (typeof c !== "number" || Number.isNaN(c) || c < Math.min(1, seconds)) {
      throw new Error(`allocation policy gave lease time ${String(c)} s for "${addr}" (${mac}); expected 1 to ${seconds}`);
    }
    return Math.min(seconds, Math.floor(c));
  }

  #usable(scope: Scope, a: number, mac: string, server: number | undefined, now: number): boolean {
    if (a === server) return false;
    if (scope.prefix <= 30 && (a === scope.network || a === scope.broadcast)) return false;
    const h = this.#byAddr.get(a);
    if (h && h.mac !== mac) {
      if (h.expires > now) return false;
      this.#drop(h, true);
    }
    const text = ipOf(a);
    const r = this.#backend.reservationByAddr(text);
    if (r && r.Token !== mac) return false;
    const l = this.#backend.leaseByAddr(text);
    if (l && !leaseExpired(l, now) && (l.Token !== mac || l.State === "DECLINE")) return false;
    return true;
  }

  #hold(scope: Scope, mac: string, addr: number, now: number): void {
    const old = this.#byMac.get(mac);
    if (old && old.addr !== addr) this.#drop(old, true);
    const h: Hold = { mac, addr, scope, expires: now + OFFER_HOLD_MS };
    this.#byMac.set(mac, h);
    this.#byAddr.set(addr, h);
  }

  #unhold(mac: string, freed: boolean): void {
    const h = this.#byMac.get(mac);
    if (h) this.#drop(h, freed);
  }

  /** Removes a hold; `freed` when the address becomes free again, so nextFree must rewind to it. */
  #drop(h: Hold, freed: boolean): void {
    if (this.#byMac.get(h.mac) === h) this.#byMac.delete(h.mac);
    if (this.#byAddr.get(h.addr) === h) this.#byAddr.delete(h.addr);
    const c = freed ? this.#cursors.get(h.scope) : undefined;
    if (c && c.at > h.addr) c.at = h.addr;
  }

  #sweep(now: number): void {
    this.#offersSinceSweep = 0;
    for (const h of this.#byMac.values()) if (h.expires <= now) this.#drop(h, true);
  }
}

function whyNoDynamic(s: SubnetConfig): string {
  if (!s.Enabled) return "is disabled (it answers reservations only)";
  if (s.Proxy) return "is proxy-only (another server hands out addresses)";
  if (s.Unmanaged) return "is unmanaged (it answers reservations only)";
  return "serves reservations only";
}
