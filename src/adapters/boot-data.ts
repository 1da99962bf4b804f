// BootData over the Store: what the boot core reads. Reads go straight to the store (synchronous,
// in memory); the MAC -> machine index is kept here and follows the store's change feed, so a
// machine created through the API is recognised by the next DHCP packet or HTTP request.
// Leases are indexed by MAC the same way (for addressesOf) but are not passed on as changes.

import type { Store } from "../store/store.ts";
import type { Logger } from "../log/logger.ts";
import type { Change, ModelObject } from "../model/object.ts";
import { bootPrefs, machineAddresses, type BootData, type BootDataChange } from "../boot/boot-data.ts";

/** Where the API's PrefsService keeps prefs (src/api/prefs.ts): one object of type and key "prefs". */
const PREFS_TYPE = "prefs";
const PREFS_KEY = "prefs";

const TYPES: ReadonlySet<string> = new Set(["machines", "bootenvs", "templates", "profiles", "stages", "params", PREFS_TYPE]);

export interface StoreBootData extends BootData {
  close(): void;
}

export function createStoreBootData(store: Store, log: Logger, now: () => number = Date.now): StoreBootData {
  const byMac = new Map<string, string>(); // mac -> machine Uuid
  const macsOf = new Map<string, string[]>(); // machine Uuid -> its MACs as indexed

  const indexMachine = (uuid: string, obj: ModelObject | undefined) => {
    for (const mac of macsOf.get(uuid) ?? []) if (byMac.get(mac) === uuid) byMac.delete(mac);
    macsOf.delete(uuid);
    if (!obj) return;
    const macs = Array.isArray(obj.HardwareAddrs) ? obj.HardwareAddrs.filter((m): m is string => typeof m === "string") : [];
    for (const mac of macs) {
      const other = byMac.get(mac);
      // HardwareAddrs is a unique index, so this only happens with hand-edited data.
      if (other !== undefined && other !== uuid) log.warn("two machines share a MAC; the later one wins", { mac, machine: uuid, other });
      byMac.set(mac, uuid);
    }
    macsOf.set(uuid, macs);
  };
  for (const m of store.list("machines")) indexMachine(String(m.Uuid), m);

  const leasesByMac = new Map<string, Set<string>>(); // mac -> lease Addrs
  const leaseMac = new Map<string, string>(); // lease Addr -> its Token as indexed
  const indexLease = (addr: string, obj: ModelObject | undefined) => {
    const old = leaseMac.get(addr);
    if (old !== undefined) {
      const set = leasesByMac.get(old);
      set?.delete(addr);
      if (set?.size === 0) leasesByMac.delete(old);
      leaseMac.delete(addr);
    }
    if (!obj || typeof obj.Token !== "string") return;
    const mac = obj.Token.toLowerCase();
    let set = leasesByMac.get(mac);
    if (!set) leasesByMac.set(mac, (set = new Set()));
    set.add(addr);
    leaseMac.set(addr, mac);
  };
  for (const l of store.list("leases")) indexLease(String(l.Addr), l);

  const subs = new Set<(c: BootDataChange) => void>();
  const unsubscribe = store.subscribe((c: Change) => {
    if (c.Type === "leases") indexLease(c.Key, c.Action === "delete" ? undefined : c.Object);
    if (!TYPES.has(c.Type)) return;
    const object = c.Action === "delete" ? undefined : c.Object;
    if (c.Type === "machines") indexMachine(c.Key, object);
    const change: BootDataChange = { type: c.Type as BootDataChange["type"], key: c.Key, object };
    for (const fn of subs) {
      try {
        fn(change);
      } catch (err) {
        log.error("boot data subscriber failed", { type: c.Type, key: c.Key, error: err instanceof Error ? err.message : String(err) });
      }
    }
  });

  return {
    machine: (uuid) => store.get("machines", uuid),
    machineByMac(mac) {
      const uuid = byMac.get(mac.toLowerCase());
      return uuid === undefined ? undefined : store.get("machines", uuid);
    },
    machines: () => store.list("machines"),
    bootEnv: (name) => store.get("bootenvs", name),
    bootEnvs: () => store.list("bootenvs"),
    template: (id) => store.get("templates", id),
    templates: () => store.list("templates"),
    profile: (name) => store.get("profiles", name),
    stage: (name) => store.get("stages", name),
    param: (name) => store.get("params", name),
    params: () => store.list("params"),
    globalProfile: () => store.get("profiles", "global"),
    prefs: () => bootPrefs(store.get(PREFS_TYPE, PREFS_KEY)),
    addressesOf(machine) {
      const leases: ModelObject[] = [];
      for (const mac of Array.isArray(machine.HardwareAddrs) ? machine.HardwareAddrs : []) {
        for (const addr of leasesByMac.get(String(mac).toLowerCase()) ?? []) {
          const l = store.get("leases", addr);
          if (l) leases.push(l);
        }
      }
      return machineAddresses(machine, leases, now());
    },
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
    close() {
      unsubscribe();
      subs.clear();
    },
  };
}
