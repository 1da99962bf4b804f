// DhcpBackend over the Store: what the DHCP server reads (subnets, reservations, leases) and
// writes (leases). Indexes by MAC are kept in memory and follow the store's change feed, so a
// lease or reservation changed through the API is seen by the next packet; machines and leases by
// MAC come from the store's one MAC index (mac-index.ts), reservations by MAC are kept here.
// A lease bound (ACK) also moves the machine with that MAC to the address: a machine's Address
// follows its lease, and no two machines keep the same address.

import type { Store } from "../store/store.ts";
import type { Logger } from "../log/logger.ts";
import type { ModelObject } from "../model/object.ts";
import type { DhcpBackend, LeaseRecord, ReservationConfig, SubnetConfig } from "../dhcp/leases/backend.ts";
import { acquireMacIndex } from "./mac-index.ts";

export interface StoreDhcpBackend extends DhcpBackend {
  close(): void;
}

export function createStoreDhcpBackend(store: Store, log: Logger): StoreDhcpBackend {
  let subnets: SubnetConfig[] | undefined;
  const reservationsByMac = new Map<string, string>(); // mac -> reservation Addr
  const macs = acquireMacIndex(store, log);

  const indexReservation = (addr: string, obj: ModelObject | null, old: ModelObject | null) => {
    if (old && typeof old.Token === "string" && reservationsByMac.get(old.Token) === addr) reservationsByMac.delete(old.Token);
    if (obj && typeof obj.Token === "string") reservationsByMac.set(obj.Token, addr);
  };

  for (const r of store.list("reservations")) indexReservation(String(r.Addr), r, null);

  const unsubscribe = store.subscribe((c) => {
    const obj = c.Action === "delete" ? null : c.Object;
    switch (c.Type) {
      case "subnets":
        subnets = undefined;
        break;
      case "reservations":
        if (!obj) for (const [mac, addr] of reservationsByMac) if (addr === c.Key) reservationsByMac.delete(mac);
        indexReservation(c.Key, obj, null);
        break;
    }
  });

  /** Point the machine with this MAC at the address, and take the address from any other machine. */
  const followLease = async (lease: LeaseRecord) => {
    const uuid = macs.machineByMac(lease.Token);
    if (!uuid || store.get("machines", uuid)?.Address === lease.Addr) return; // a renewal: nothing moves
    for (const m of store.list("machines")) {
      if (m.Address === lease.Addr && m.Uuid !== uuid) {
        await store.put("machines", String(m.Uuid), { ...m, Address: "" });
        log.info("address moved to another machine", { address: lease.Addr, from: m.Name, machine: m.Uuid, mac: lease.Token });
      }
    }
    const machine = store.get("machines", uuid);
    if (machine && machine.Address !== lease.Addr) {
      await store.put("machines", uuid, { ...machine, Address: lease.Addr });
    }
  };

  return {
    subnets() {
      subnets ??= store.list("subnets") as unknown as SubnetConfig[];
      return subnets;
    },
    reservationByMac(mac) {
      const addr = reservationsByMac.get(mac);
      return addr ? (store.get("reservations", addr) as unknown as ReservationConfig | undefined) : undefined;
    },
    reservationByAddr(addr) {
      return store.get("reservations", addr) as unknown as ReservationConfig | undefined;
    },
    leaseByAddr(addr) {
      return store.get("leases", addr) as unknown as LeaseRecord | undefined;
    },
    leasesByMac(mac) {
      const out: LeaseRecord[] = [];
      for (const addr of macs.leaseAddrs(mac)) {
        const l = store.get("leases", addr);
        if (l) out.push(l as unknown as LeaseRecord);
      }
      return out;
    },
    async saveLease(lease) {
      // The lease engine builds complete, valid records; the model's full validation (zod) would
      // cost a tenth of a DORA exchange, so only the meta fields are added here. Tests pin that
      // the result is what the model would produce.
      await store.put("leases", lease.Addr, leaseObject(lease));
      if (lease.State === "ACK") {
        followLease(lease).catch((err) => log.warn("cannot update machine address", { mac: lease.Token, address: lease.Addr, error: err }));
      }
    },
    async deleteLease(addr) {
      if (store.get("leases", addr)) await store.delete("leases", addr);
    },
    close() {
      unsubscribe();
      macs.release();
    },
  };
}

/** A lease record as the store keeps it (what the leases model's prepare() yields for it). */
export function leaseObject(lease: LeaseRecord): ModelObject {
  return {
    Addr: lease.Addr,
    Token: lease.Token,
    Strategy: lease.Strategy,
    State: lease.State,
    ExpireTime: lease.ExpireTime,
    Via: lease.Via,
    Hostname: lease.Hostname,
    Validated: true,
    Available: true,
    Errors: [],
    ReadOnly: false,
    Meta: {},
  };
}
