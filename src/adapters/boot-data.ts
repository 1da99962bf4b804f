// BootData over the Store: what the boot core reads. Reads go straight to the store (synchronous,
// in memory); machines and leases by MAC come from the store's one MAC index (mac-index.ts), which
// follows the store's change feed, so a machine created through the API is recognised by the next
// DHCP packet or HTTP request. Lease changes are not passed on to subscribers.

import type { Store } from "../store/store.ts";
import type { Logger } from "../log/logger.ts";
import type { Change, ModelObject } from "../model/object.ts";
import { bootPrefs, machineAddresses, type BootData, type BootDataChange } from "../boot/boot-data.ts";
import { acquireMacIndex } from "./mac-index.ts";

/** Where the API's PrefsService keeps prefs (src/api/prefs.ts): one object of type and key "prefs". */
const PREFS_TYPE = "prefs";
const PREFS_KEY = "prefs";

const TYPES: ReadonlySet<string> = new Set(["machines", "bootenvs", "templates", "profiles", "stages", "params", PREFS_TYPE]);

export interface StoreBootData extends BootData {
  close(): void;
}

export function createStoreBootData(store: Store, log: Logger, now: () => number = Date.now): StoreBootData {
  const macs = acquireMacIndex(store, log);

  const subs = new Set<(c: BootDataChange) => void>();
  const unsubscribe = store.subscribe((c: Change) => {
    if (!TYPES.has(c.Type)) return;
    const object = c.Action === "delete" ? undefined : c.Object;
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
      const uuid = macs.machineByMac(mac);
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
        for (const addr of macs.leaseAddrs(String(mac))) {
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
      macs.release();
    },
  };
}
