// The lease engine's AllocationPolicy for one node of the pair: which dynamic addresses it may
// grant or renew now, and for how long. Reservations never reach it (the engine answers them the
// same from either node).
//
// - Synced ("active": every lease is on the standby before its DHCPACK): everything, uncapped.
// - Not synced ("active-solo", "partner-down", the serving side of "reconciling"): the pool is split
//   by RFC 3074's Pearson hash of the ADDRESS (dhcp/leases/pool-split.ts), half 0 to slot 0 and half 1 to
//   slot 1, so two nodes that each believe the other dead never grant the same address.
//   The MCLT rule of the ISC failover draft (also MS DHCP failover) bounds what the partner cannot
//   know: a lease it knows (LeaseLedger) may be extended to its known expiry + MCLT and no further;
//   a lease it does not know lasts at most MCLT. A lease written here but never acked by it (the
//   write that timed out before its DHCPACK) is not one it knows.
//   - Own half: new grants, except an address whose partner-known lease belongs to another client
//     and ended less than MCLT ago (the partner may have extended it by up to MCLT: quarantine).
//     The holder of an own-half lease may renew it: the partner never grants this half while
//     unsynced, and refusing would only NAK the client into a fresh grant of the same address.
//     Lease time: MCLT beyond max(now, partner-known expiry) for the client the partner knows, else
//     MCLT.
//   - Partner's half: no new grants; a renewal only for the client the partner knows on it, and
//     only while at least MIN_RENEW_SECONDS remain before partner-known expiry + MCLT (after that
//     a DHCPNAK moves the client to an own-half address rather than to a lease of a few seconds).
//   - After the operator confirms partner-down (ISC's PARTNER-DOWN: the operator asserts the
//     partner is dead, not merely unreachable), the partner's half is treated as own once MCLT has
//     passed since the partner's last frame: every lease the partner could have granted or
//     extended unseen has ended by then. Without that confirmation half the pool stays unused for
//     as long as the partition lasts: the price of zero duplicates without a quorum.
// - Any other state (standby, joining, stopped): nothing; the DHCP gate is closed anyway.

import type { AllocationPolicy } from "../dhcp/leases/backend.ts";
import { addressHalf } from "../dhcp/leases/pool-split.ts";
import type { LeaseLedger } from "./lease-ledger.ts";
import type { HaState } from "./roles.ts";

/** Below this many seconds left under the MCLT bound, a partner-half lease is not renewed. */
export const MIN_RENEW_SECONDS = 60;

export interface PoolPolicyDeps {
  slot: 0 | 1;
  state(): HaState;
  ledger: LeaseLedger;
  /** haMclt, read per call (prefs change at run time). */
  mcltSeconds(): number;
  /** The partner's last frame on any path (HeartbeatBook.lastHeard()); undefined if never heard. */
  lastContactMs(): number | undefined;
  /** When the operator confirmed partner-down; undefined if not. A confirmation older than the partner's last frame is void. */
  partnerDownConfirmedMs(): number | undefined;
  /** Whether a partner exists at all: a first node not yet paired has the whole pool. Default: paired. */
  paired?: () => boolean;
  /** Half of an address; defaults to dhcp/leases/pool-split.ts addressHalf. */
  halfOf?: (addr: string) => 0 | 1;
}

const PARTITIONED: ReadonlySet<HaState> = new Set(["active-solo", "partner-down", "reconciling"]);

export class HaPoolPolicy implements AllocationPolicy {
  readonly #d: PoolPolicyDeps;
  readonly #halfOf: (addr: string) => 0 | 1;

  constructor(deps: PoolPolicyDeps) {
    this.#d = deps;
    this.#halfOf = deps.halfOf ?? addressHalf;
  }

  mayAllocate(addr: string, mac: string, now: number): boolean {
    const mode = this.#mode();
    if (mode !== "partitioned") return mode === "all";
    if (!this.#ownHalf(addr, now)) return false;
    return !this.#quarantined(addr, mac, now);
  }

  mayRenew(addr: string, mac: string, now: number): boolean {
    const mode = this.#mode();
    if (mode !== "partitioned") return mode === "all";
    if (this.#ownHalf(addr, now)) return !this.#quarantined(addr, mac, now);
    const pk = this.#d.ledger.partnerKnown(addr);
    if (!pk || pk.mac !== mac) return false;
    return pk.expireMs + this.#mcltMs() - now >= MIN_RENEW_SECONDS * 1000;
  }

  leaseSeconds(addr: string, mac: string, seconds: number, now: number): number {
    const mode = this.#mode();
    if (mode === "all") return seconds;
    const mclt = this.#d.mcltSeconds();
    const pk = this.#d.ledger.partnerKnown(addr);
    let capMs: number;
    if (!pk || pk.mac !== mac) capMs = mclt * 1000;
    else if (this.#ownHalf(addr, now)) capMs = Math.max(now, pk.expireMs) + mclt * 1000 - now;
    else capMs = pk.expireMs + mclt * 1000 - now;
    return Math.min(seconds, Math.max(1, Math.floor(capMs / 1000)));
  }

  /** Whether the partner's half is usable now (operator-confirmed partner-down, MCLT elapsed). */
  partnerHalfUsable(now: number): boolean {
    if (this.#d.state() !== "partner-down") return false;
    const confirmed = this.#d.partnerDownConfirmedMs();
    if (confirmed === undefined) return false;
    const last = this.#d.lastContactMs();
    if (last !== undefined && confirmed < last) return false;
    return now >= (last ?? confirmed) + this.#mcltMs();
  }

  #mode(): "all" | "partitioned" | "none" {
    const s = this.#d.state();
    if (s === "active" || this.#d.paired?.() === false) return "all";
    return PARTITIONED.has(s) ? "partitioned" : "none";
  }

  #mcltMs(): number {
    return this.#d.mcltSeconds() * 1000;
  }

  #ownHalf(addr: string, now: number): boolean {
    return this.#halfOf(addr) === this.#d.slot || this.partnerHalfUsable(now);
  }

  /** The partner knows another client on `addr` whose lease ended less than MCLT ago (or not at all). */
  #quarantined(addr: string, mac: string, now: number): boolean {
    const pk = this.#d.ledger.partnerKnown(addr);
    return pk !== undefined && pk.mac !== mac && now < pk.expireMs + this.#mcltMs();
  }
}
