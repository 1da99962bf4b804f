// The one MAC index over the store: machine by MAC, and lease addresses by MAC. The DHCP backend
// and the boot data both read it, so a store holds it once, however many adapters are built over
// that store; it follows the store's change feed from the first acquire to the last release.
//
// Per lease it keeps two map entries and no other object: a MAC with one lease (almost all of
// them) maps to the address string itself, and only a MAC with several maps to an array. A Set
// per MAC, as each adapter kept before, costs about 250 bytes of heap per lease, twice over. The
// maps keep MACs and IPv4 addresses packed in typed arrays (packed-key-map.ts).
// MACs are keyed in lower case; lookups lower-case their argument.
//
// Built from the store's scanField rather than list: at a million leases, a first list orders and
// freezes every lease (about a second before the server could answer), where the index needs one
// string of each. The objects are left for the store's background freezing.

import type { Store } from "../store/store.ts";
import type { Logger } from "../log/logger.ts";
import type { Change } from "../model/object.ts";
import { PackedKeyMap, packIpv4, packMac } from "./packed-key-map.ts";

export interface MacIndex {
  /** Uuid of the machine with this MAC (any case), or undefined. */
  machineByMac(mac: string): string | undefined;
  /** Keys (addresses) of the leases whose Token is this MAC (any case), oldest first. */
  leaseAddrs(mac: string): readonly string[];
  /** Give the index back; the last release stops following the store. */
  release(): void;
}

const NONE: readonly string[] = Object.freeze([]);

/** `s` in lower case; `s` itself when it already is, so the index shares the object's string. */
function lower(s: string): string {
  const l = s.toLowerCase();
  return l === s ? s : l;
}

/** A HardwareAddrs value's MACs, in lower case. */
function macList(addrs: unknown): readonly string[] {
  if (!Array.isArray(addrs)) return NONE;
  const out: string[] = [];
  for (const m of addrs) if (typeof m === "string") out.push(lower(m));
  return out;
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

class SharedMacIndex {
  private readonly byMac: PackedKeyMap<string>; // mac -> machine Uuid
  private readonly macsOf = new Map<string, readonly string[]>(); // machine Uuid -> its MACs as indexed
  private readonly leasesByMac: PackedKeyMap<string | string[]>; // mac -> lease Addr(s)
  private readonly leaseMac: PackedKeyMap<string>; // lease Addr -> its MAC as indexed
  private readonly unsubscribe: () => void;
  refs = 0;

  constructor(store: Store, private readonly log: Logger) {
    // Sized for what the store holds (a machine has two NICs or so), so the build does not regrow them.
    this.byMac = new PackedKeyMap(packMac, 2 * store.count("machines"));
    this.leasesByMac = new PackedKeyMap(packMac, store.count("leases"));
    this.leaseMac = new PackedKeyMap(packIpv4, store.count("leases"));
    // Subscribed before any adapter that acquires it: the index is current when they hear a change.
    this.unsubscribe = store.subscribe((c: Change) => {
      const obj = c.Action === "delete" ? undefined : c.Object;
      if (c.Type === "machines") this.indexMachine(c.Key, obj?.HardwareAddrs);
      else if (c.Type === "leases") this.indexLease(c.Key, obj?.Token);
    });
    const several: string[][] = [];
    try {
      // Read (macList copies it), not kept: no need to freeze it now.
      store.scanField("machines", "HardwareAddrs", (uuid, addrs) => this.buildMachine(uuid, addrs), { freeze: false });
      store.scanField("leases", "Token", (addr, token) => this.buildLease(addr, token, several));
    } catch (err) {
      this.unsubscribe();
      throw err;
    }
    // Scanned in map order: a MAC's several addresses go in key order, as a list gives them.
    for (const addrs of several) addrs.sort(byKey);
  }

  machineByMac(mac: string): string | undefined {
    return this.byMac.get(mac.toLowerCase());
  }

  leaseAddrs(mac: string): readonly string[] {
    const v = this.leasesByMac.get(mac.toLowerCase());
    return v === undefined ? NONE : typeof v === "string" ? [v] : v;
  }

  close(): void {
    this.unsubscribe();
  }

  /** Machine `uuid` now has HardwareAddrs `addrs` (undefined: deleted). */
  private indexMachine(uuid: string, addrs: unknown): void {
    for (const mac of this.macsOf.get(uuid) ?? NONE) if (this.byMac.get(mac) === uuid) this.byMac.delete(mac);
    this.macsOf.delete(uuid);
    const macs = macList(addrs);
    for (const mac of macs) {
      const other = this.byMac.get(mac);
      // HardwareAddrs is a unique index, so this only happens with hand-edited data.
      if (other !== undefined && other !== uuid) this.log.warn("two machines share a MAC; the later one wins", { mac, machine: uuid, other });
      this.byMac.set(mac, uuid);
    }
    if (macs.length > 0) this.macsOf.set(uuid, macs);
  }

  /** At build: each machine once, in map order; of machines sharing a MAC the last in key order wins, as in a list. */
  private buildMachine(uuid: string, addrs: unknown): void {
    const macs = macList(addrs);
    for (const mac of macs) {
      const other = this.byMac.get(mac);
      if (other !== undefined && other !== uuid) {
        this.log.warn("two machines share a MAC; the later one wins", { mac, machine: byKey(uuid, other) > 0 ? uuid : other, other: byKey(uuid, other) > 0 ? other : uuid });
        if (byKey(uuid, other) < 0) continue;
      }
      this.byMac.set(mac, uuid);
    }
    if (macs.length > 0) this.macsOf.set(uuid, macs);
  }

  /** At build: each lease once, so there is no earlier entry to undo; arrays made go to `several`. */
  private buildLease(addr: string, token: unknown, several: string[][]): void {
    if (typeof token !== "string") return;
    const mac = lower(token);
    const v = this.leasesByMac.setIfAbsent(mac, addr); // undefined: the MAC's first lease, set
    if (typeof v === "string") {
      const both = [v, addr];
      several.push(both);
      this.leasesByMac.set(mac, both);
    } else if (v !== undefined) v.push(addr);
    this.leaseMac.set(addr, mac);
  }

  /** Lease `addr` now has Token `token` (undefined: deleted). */
  private indexLease(addr: string, token: unknown): void {
    const mac = typeof token === "string" ? lower(token) : undefined;
    const old = this.leaseMac.get(addr);
    if (old === mac) return; // a renewal: same MAC, same address
    if (old !== undefined) {
      const v = this.leasesByMac.get(old);
      if (v === addr) this.leasesByMac.delete(old);
      else if (Array.isArray(v)) {
        const rest = v.filter((a) => a !== addr);
        this.leasesByMac.set(old, rest.length === 1 ? rest[0]! : rest);
      }
      this.leaseMac.delete(addr);
    }
    if (mac === undefined) return;
    const v = this.leasesByMac.get(mac);
    if (v === undefined) this.leasesByMac.set(mac, addr);
    else if (typeof v === "string") this.leasesByMac.set(mac, [v, addr]);
    else v.push(addr);
    this.leaseMac.set(addr, mac);
  }
}

const shared = new WeakMap<Store, SharedMacIndex>();

/** The MAC index of `store`, built on first use; `release()` it when done. */
export function acquireMacIndex(store: Store, log: Logger): MacIndex {
  let idx = shared.get(store);
  if (!idx) shared.set(store, (idx = new SharedMacIndex(store, log)));
  idx.refs++;
  const held = idx;
  let released = false;
  return {
    machineByMac: (mac) => held.machineByMac(mac),
    leaseAddrs: (mac) => held.leaseAddrs(mac),
    release() {
      if (released) return;
      released = true;
      if (--held.refs === 0) {
        held.close();
        if (shared.get(store) === held) shared.delete(store);
      }
    },
  };
}
