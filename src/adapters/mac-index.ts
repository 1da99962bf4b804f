// The one MAC index over the store: machine by MAC, and lease addresses by MAC. The DHCP backend
// and the boot data both read it, so a store holds it once, however many adapters are built over
// that store; it follows the store's change feed from the first acquire to the last release.
//
// Per lease it keeps two Map entries and no other object: a MAC with one lease (almost all of
// them) maps to the address string itself, and only a MAC with several maps to an array. A Set
// per MAC, as each adapter kept before, costs about 250 bytes of heap per lease, twice over.
// MACs are keyed in lower case; lookups lower-case their argument.

import type { Store } from "../store/store.ts";
import type { Logger } from "../log/logger.ts";
import type { Change, ModelObject } from "../model/object.ts";

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

class SharedMacIndex {
  private readonly byMac = new Map<string, string>(); // mac -> machine Uuid
  private readonly macsOf = new Map<string, readonly string[]>(); // machine Uuid -> its MACs as indexed
  private readonly leasesByMac = new Map<string, string | string[]>(); // mac -> lease Addr(s)
  private readonly leaseMac = new Map<string, string>(); // lease Addr -> its MAC as indexed
  private readonly unsubscribe: () => void;
  refs = 0;

  constructor(store: Store, private readonly log: Logger) {
    // Subscribed before any adapter that acquires it: the index is current when they hear a change.
    this.unsubscribe = store.subscribe((c: Change) => {
      const obj = c.Action === "delete" ? undefined : c.Object;
      if (c.Type === "machines") this.indexMachine(c.Key, obj);
      else if (c.Type === "leases") this.indexLease(c.Key, obj);
    });
    for (const m of store.list("machines")) this.indexMachine(String(m.Uuid), m);
    for (const l of store.list("leases")) this.indexLease(String(l.Addr), l);
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

  private indexMachine(uuid: string, obj: ModelObject | undefined): void {
    for (const mac of this.macsOf.get(uuid) ?? NONE) if (this.byMac.get(mac) === uuid) this.byMac.delete(mac);
    this.macsOf.delete(uuid);
    if (!obj) return;
    const macs = Array.isArray(obj.HardwareAddrs) ? obj.HardwareAddrs.filter((m): m is string => typeof m === "string").map(lower) : [];
    for (const mac of macs) {
      const other = this.byMac.get(mac);
      // HardwareAddrs is a unique index, so this only happens with hand-edited data.
      if (other !== undefined && other !== uuid) this.log.warn("two machines share a MAC; the later one wins", { mac, machine: uuid, other });
      this.byMac.set(mac, uuid);
    }
    if (macs.length > 0) this.macsOf.set(uuid, macs);
  }

  private indexLease(addr: string, obj: ModelObject | undefined): void {
    const mac = obj && typeof obj.Token === "string" ? lower(obj.Token) : undefined;
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
