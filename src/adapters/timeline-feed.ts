// The store's side of the boot timeline: registrations and jobs, taken from the change feed (so
// the API, the scheduler and an agent's own updates all count, once each), and the timeline's
// view of which MACs are registered machines and which MAC holds an address (a lease, else a
// machine's Address: iPXE's and an installer's requests come from the address, not the MAC).

import type { Store } from "../store/store.ts";
import type { Change, ModelObject } from "../model/object.ts";
import { JobOutcome, Kind, RegisterOutcome } from "../timeline/kinds.ts";
import { macFromString } from "../timeline/mac.ts";
import { Timeline, type TimelineOptions } from "../timeline/recorder.ts";

export interface StoreTimeline {
  timeline: Timeline;
  /** Stops following the store. */
  close(): void;
}

/** A machine's HardwareAddrs value as MAC numbers (anything else in it skipped). */
function macsOf(hardwareAddrs: unknown): number[] {
  const list: unknown[] = Array.isArray(hardwareAddrs) ? hardwareAddrs : [];
  const out: number[] = [];
  for (const m of list) {
    const n = typeof m === "string" ? macFromString(m) : undefined;
    if (n !== undefined) out.push(n);
  }
  return out;
}

/**
 * A timeline whose known-MAC pool and address lookups follow the store, fed with registrations
 * and job starts and ends from its change feed.
 */
export function createStoreTimeline(store: Store, o: TimelineOptions = {}): StoreTimeline {
  // Machines' Addresses -> their first MAC (Address is a unique index, so one machine each), and
  // the registered MACs as numbers (the timeline asks for each new MAC: no string built).
  const byAddress = new Map<string, number>();
  const addressOf = new Map<string, string>(); // machine Uuid -> the Address indexed
  const registered = new Set<number>();
  const macsOfMachine = new Map<string, number[]>(); // machine Uuid -> its MACs indexed
  // `fresh`: at the build, each machine once, so there is nothing indexed to undo.
  const index = (uuid: string, hardwareAddrs: unknown, machineAddress: unknown, fresh = false) => {
    if (!fresh) {
      const had = addressOf.get(uuid);
      if (had !== undefined) {
        byAddress.delete(had);
        addressOf.delete(uuid);
      }
      for (const m of macsOfMachine.get(uuid) ?? []) registered.delete(m);
      macsOfMachine.delete(uuid);
    }
    const macs = macsOf(hardwareAddrs);
    if (macs.length) macsOfMachine.set(uuid, macs);
    for (const m of macs) registered.add(m);
    const address = typeof machineAddress === "string" ? machineAddress : "";
    if (!address || macs[0] === undefined) return;
    byAddress.set(address, macs[0]);
    addressOf.set(uuid, address);
  };
  // Two field scans rather than a list: at start-up with 100k machines, a first list would order
  // and freeze them all before the server answers (about 0.3 s), for two fields of each.
  // HardwareAddrs is only read (macsOf makes numbers of it), and addrsOf goes with this call: not frozen.
  const addrsOf = new Map<string, unknown>();
  store.scanField("machines", "HardwareAddrs", (uuid, addrs) => addrsOf.set(uuid, addrs), { freeze: false });
  store.scanField("machines", "Address", (uuid, address) => index(uuid, addrsOf.get(uuid), address, true));
  addrsOf.clear(); // the closure outlives the build: keep no unfrozen values

  const timeline = new Timeline({
    ...o,
    isKnown: (mac) => registered.has(mac),
    holderOf: (address) => {
      const lease = store.get("leases", address);
      const leased = typeof lease?.Token === "string" ? macFromString(lease.Token) : undefined;
      return leased ?? byAddress.get(address);
    },
  });

  // A job is updated many times in one state (log positions, times): only a new state is an event.
  const stateOf = new Map<string, string>();
  const close = store.subscribe((c: Change) => {
    if (c.Type === "machines") {
      index(c.Key, c.Action === "delete" ? undefined : c.Object?.HardwareAddrs, c.Action === "delete" ? undefined : c.Object?.Address);
      if (c.Action === "delete" || !c.Object) return;
      const uuid = String(c.Object.Uuid ?? c.Key);
      const name = typeof c.Object.Name === "string" ? c.Object.Name : "";
      for (const mac of macsOf(c.Object.HardwareAddrs)) {
        timeline.promote(mac);
        if (c.Action === "create") timeline.record(mac, Kind.Register, 0, RegisterOutcome.Created, -1, 0, uuid, name, "", "", "");
      }
      return;
    }
    if (c.Type !== "jobs") return;
    if (c.Action === "delete" || !c.Object) {
      stateOf.delete(c.Key);
      return;
    }
    const job = c.Object;
    const state = String(job.State ?? "");
    if (stateOf.get(c.Key) === state) return;
    stateOf.set(c.Key, state);
    if (stateOf.size > 10_000) stateOf.delete(stateOf.keys().next().value!);
    const outcome = state === "running" ? JobOutcome.Started : state === "finished" ? JobOutcome.Succeeded : state === "failed" ? JobOutcome.Failed : 0;
    if (outcome === 0) return;
    const machine = store.get("machines", String(job.Machine ?? ""));
    for (const mac of macsOf(machine?.HardwareAddrs)) {
      timeline.record(mac, Kind.Job, 0, outcome, -1, 0, String(job.Uuid ?? c.Key), String(job.Task ?? ""), String(job.Stage ?? ""), String(job.Workflow ?? ""), "");
    }
  });
  return { timeline, close };
}
