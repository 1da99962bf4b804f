// An in-memory DhcpBackend: the fake every DHCP test runs against (handler, lease engine, server).
// It behaves like the store-backed adapter (leases indexed by address and by MAC, saveLease
// resolves when "durable") and can be told to fail, so each failure branch of the server has a test.

import { reservations } from "../../model/schemas/reservations.ts";
import { subnets } from "../../model/schemas/subnets.ts";
import type { DhcpBackend, LeaseRecord, ReservationConfig, SubnetConfig } from "./backend.ts";

// The defaults come from the model's own schemas, so this fake cannot drift from what the API
// stores: one valid object of each type, prepared once.
const SUBNET = subnets.prepare({ Name: "defaults", Subnet: "198.51.100.0/24", Proxy: true }) as unknown as SubnetConfig;
const RESERVATION = reservations.prepare({ Addr: "198.51.100.1", Token: "02:00:00:00:00:01" }) as unknown as ReservationConfig;

/** A subnet with the model's defaults (src/model/schemas/subnets.ts), overridden by `init`. */
export function subnetConfig(init: Partial<SubnetConfig> & { Subnet: string }): SubnetConfig {
  return {
    Name: init.Name ?? init.Subnet,
    ActiveStart: "",
    ActiveEnd: "",
    ActiveLeaseTime: SUBNET.ActiveLeaseTime,
    ReservedLeaseTime: SUBNET.ReservedLeaseTime,
    Options: [...SUBNET.Options],
    NextServer: SUBNET.NextServer,
    Proxy: false,
    Unmanaged: SUBNET.Unmanaged,
    OnlyReservations: SUBNET.OnlyReservations,
    Enabled: SUBNET.Enabled,
    Pickers: [...SUBNET.Pickers],
    Strategy: SUBNET.Strategy,
    ...init,
  };
}

/** A reservation with the model's defaults, overridden by `init`. */
export function reservationConfig(init: Partial<ReservationConfig> & { Addr: string; Token: string }): ReservationConfig {
  const { Strategy, NextServer, Duration } = RESERVATION;
  return { Strategy, Options: [...RESERVATION.Options], NextServer, Duration, ...init };
}

export class MemoryDhcpBackend implements DhcpBackend {
  #subnets: SubnetConfig[] = [];
  readonly #resByMac = new Map<string, ReservationConfig>();
  readonly #resByAddr = new Map<string, ReservationConfig>();
  readonly #leases = new Map<string, LeaseRecord>();
  readonly #byMac = new Map<string, Set<string>>();
  /** Number of saveLease calls that completed (each one would be an fsync in the file store). */
  saves = 0;
  deletes = 0;
  /** When set, saveLease and deleteLease reject with this error (a full disk, a closed store). */
  failWith: Error | undefined;
  /** Milliseconds each save waits before resolving (to let concurrent requests interleave). */
  saveDelayMs = 0;

  constructor(init: { subnets?: SubnetConfig[]; reservations?: ReservationConfig[]; leases?: LeaseRecord[] } = {}) {
    this.#subnets = [...(init.subnets ?? [])];
    for (const r of init.reservations ?? []) this.addReservation(r);
    for (const l of init.leases ?? []) this.#put(l);
  }

  subnets(): readonly SubnetConfig[] {
    return this.#subnets;
  }

  setSubnets(list: SubnetConfig[]): void {
    this.#subnets = [...list];
  }

  addReservation(r: ReservationConfig): void {
    this.#resByMac.set(r.Token, r);
    this.#resByAddr.set(r.Addr, r);
  }

  removeReservation(addr: string): void {
    const r = this.#resByAddr.get(addr);
    if (!r) return;
    this.#resByAddr.delete(addr);
    if (this.#resByMac.get(r.Token) === r) this.#resByMac.delete(r.Token);
  }

  reservationByMac(mac: string): ReservationConfig | undefined {
    return this.#resByMac.get(mac);
  }

  reservationByAddr(addr: string): ReservationConfig | undefined {
    return this.#resByAddr.get(addr);
  }

  leaseByAddr(addr: string): LeaseRecord | undefined {
    return this.#leases.get(addr);
  }

  leasesByMac(mac: string): readonly LeaseRecord[] {
    const addrs = this.#byMac.get(mac);
    if (!addrs) return [];
    const out: LeaseRecord[] = [];
    for (const a of addrs) {
      const l = this.#leases.get(a);
      if (l) out.push(l);
    }
    return out;
  }

  /** Every lease, in insertion order (for assertions). */
  allLeases(): LeaseRecord[] {
    return [...this.#leases.values()];
  }

  async saveLease(lease: LeaseRecord): Promise<void> {
    if (this.saveDelayMs > 0) await Bun.sleep(this.saveDelayMs);
    if (this.failWith) throw this.failWith;
    this.#put({ ...lease });
    this.saves++;
  }

  async deleteLease(addr: string): Promise<void> {
    if (this.failWith) throw this.failWith;
    const old = this.#leases.get(addr);
    if (!old) return;
    this.#leases.delete(addr);
    this.#byMac.get(old.Token)?.delete(addr);
    this.deletes++;
  }

  #put(lease: LeaseRecord): void {
    const old = this.#leases.get(lease.Addr);
    if (old && old.Token !== lease.Token) this.#byMac.get(old.Token)?.delete(lease.Addr);
    this.#leases.set(lease.Addr, lease);
    let set = this.#byMac.get(lease.Token);
    if (!set) this.#byMac.set(lease.Token, (set = new Set()));
    set.add(lease.Addr);
  }
}
