import { expect, test } from "bun:test";
import { nullLogger } from "../log/logger.ts";
import { MemoryStore } from "../store/memory-store.ts";
import { machines } from "../model/schemas/machines.ts";
import { acquireMacIndex } from "./mac-index.ts";

const lease = (Addr: string, Token: string) => ({ Addr, Token, State: "ACK", ExpireTime: "2030-01-01T00:00:00Z", Via: "", Strategy: "MAC", Hostname: "" });

test("leases by MAC: one, several, moved, renewed and deleted, in any case", async () => {
  const store = new MemoryStore();
  await store.open();
  await store.put("leases", "198.51.100.10", lease("198.51.100.10", "52:54:00:00:00:01"));
  const idx = acquireMacIndex(store, nullLogger);
  expect(idx.leaseAddrs("52:54:00:00:00:01")).toEqual(["198.51.100.10"]);
  expect(idx.leaseAddrs("52:54:00:00:00:01".toUpperCase())).toEqual(["198.51.100.10"]);
  expect(idx.leaseAddrs("52:54:00:00:00:02")).toEqual([]);

  await store.put("leases", "198.51.100.11", lease("198.51.100.11", "52:54:00:00:00:01"));
  await store.put("leases", "198.51.100.12", lease("198.51.100.12", "52:54:00:00:00:01"));
  expect(idx.leaseAddrs("52:54:00:00:00:01")).toEqual(["198.51.100.10", "198.51.100.11", "198.51.100.12"]);
  await store.put("leases", "198.51.100.10", lease("198.51.100.10", "52:54:00:00:00:01")); // renewal: order kept
  await store.put("leases", "198.51.100.11", lease("198.51.100.11", "52:54:00:00:00:02")); // moved to another MAC
  expect(idx.leaseAddrs("52:54:00:00:00:01")).toEqual(["198.51.100.10", "198.51.100.12"]);
  expect(idx.leaseAddrs("52:54:00:00:00:02")).toEqual(["198.51.100.11"]);
  await store.delete("leases", "198.51.100.10");
  expect(idx.leaseAddrs("52:54:00:00:00:01")).toEqual(["198.51.100.12"]);
  await store.delete("leases", "198.51.100.12");
  expect(idx.leaseAddrs("52:54:00:00:00:01")).toEqual([]);
  // A Token in upper case (hand-edited data) is found by its lower-case MAC; a lease without one is not indexed.
  await store.put("leases", "198.51.100.13", lease("198.51.100.13", "52:54:00:00:00:AB"));
  await store.put("leases", "198.51.100.14", { Addr: "198.51.100.14" });
  expect(idx.leaseAddrs("52:54:00:00:00:ab")).toEqual(["198.51.100.13"]);
  await store.put("leases", "198.51.100.13", { Addr: "198.51.100.13" });
  expect(idx.leaseAddrs("52:54:00:00:00:ab")).toEqual([]);
  idx.release();
  await store.close();
});

test("machines by MAC follow MAC changes and deletes; a shared MAC is logged and the later machine wins", async () => {
  const store = new MemoryStore();
  await store.open();
  const warnings: string[] = [];
  const log = { ...nullLogger, warn: (msg: string) => void warnings.push(msg), child: () => log } as typeof nullLogger;
  const a = machines.prepare({ Name: "a", HardwareAddrs: ["52:54:00:00:00:01", "52:54:00:00:00:02"] });
  await store.put("machines", String(a.Uuid), a);
  const idx = acquireMacIndex(store, log);
  expect(idx.machineByMac("52:54:00:00:00:02")).toBe(String(a.Uuid));
  expect(idx.machineByMac("52:54:00:00:00:02".toUpperCase())).toBe(String(a.Uuid));
  await store.put("machines", String(a.Uuid), { ...a, HardwareAddrs: ["52:54:00:00:00:03"] });
  expect(idx.machineByMac("52:54:00:00:00:01")).toBeUndefined();
  expect(idx.machineByMac("52:54:00:00:00:03")).toBe(String(a.Uuid));
  const b = machines.prepare({ Name: "b", HardwareAddrs: ["52:54:00:00:00:04"] });
  await store.put("machines", String(b.Uuid), { ...b, HardwareAddrs: ["52:54:00:00:00:03"] });
  expect(warnings).toEqual(["two machines share a MAC; the later one wins"]);
  expect(idx.machineByMac("52:54:00:00:00:03")).toBe(String(b.Uuid));
  await store.delete("machines", String(a.Uuid)); // a no longer owns the MAC: b keeps it
  expect(idx.machineByMac("52:54:00:00:00:03")).toBe(String(b.Uuid));
  await store.delete("machines", String(b.Uuid));
  expect(idx.machineByMac("52:54:00:00:00:03")).toBeUndefined();
  idx.release();
  await store.close();
});

test("one index per store, shared by every holder; it stops following the store at the last release", async () => {
  const store = new MemoryStore();
  await store.open();
  // The store core's subscriber set (private): one subscription however many hold the index.
  const subscribed = () => (store as unknown as { subscribers: Set<unknown> }).subscribers.size;
  const before = subscribed();
  const one = acquireMacIndex(store, nullLogger);
  const two = acquireMacIndex(store, nullLogger);
  expect(subscribed()).toBe(before + 1);
  await store.put("leases", "198.51.100.10", lease("198.51.100.10", "52:54:00:00:00:01"));
  expect(two.leaseAddrs("52:54:00:00:00:01")).toEqual(["198.51.100.10"]);
  one.release();
  one.release(); // twice is once
  expect(subscribed()).toBe(before + 1);
  expect(two.leaseAddrs("52:54:00:00:00:01")).toEqual(["198.51.100.10"]);
  two.release();
  expect(subscribed()).toBe(before);
  // A new holder after the last release builds it again from the store; the released one is stale.
  await store.put("leases", "198.51.100.11", lease("198.51.100.11", "52:54:00:00:00:01"));
  expect(two.leaseAddrs("52:54:00:00:00:01")).toEqual(["198.51.100.10"]);
  const three = acquireMacIndex(store, nullLogger);
  expect(three.leaseAddrs("52:54:00:00:00:01")).toEqual(["198.51.100.10", "198.51.100.11"]);
  three.release();
  // Another store has its own.
  const other = new MemoryStore();
  await other.open();
  const four = acquireMacIndex(other, nullLogger);
  expect(four.leaseAddrs("52:54:00:00:00:01")).toEqual([]);
  four.release();
  await other.close();
  await store.close();
});

test("built from a loaded store: a MAC's leases in key order, the greater key wins a shared MAC, then the feed moves keys of every form", async () => {
  const entry = (Type: string, Key: string, Object: Record<string, unknown>) => ({ Type, Key, Object });
  const mac = "52:54:00:00:00:01";
  const store = new MemoryStore({
    snapshot: {
      seq: 9,
      entries: [
        entry("leases", "198.51.100.20", lease("198.51.100.20", mac)),
        entry("leases", "198.51.100.3", lease("198.51.100.3", mac.toUpperCase())),
        entry("leases", "198.51.100.100", lease("198.51.100.100", mac)),
        // Neither a canonical MAC nor an IPv4 address: kept beside the packed entries.
        entry("leases", "2001:db8::5", lease("2001:db8::5", "01:52:54:00:00:00:02")),
        entry("leases", "198.51.100.7", { Addr: "198.51.100.7" }),
        entry("machines", "m-b", { Uuid: "m-b", HardwareAddrs: ["52:54:00:00:00:0A", "52:54:00:00:00:0b"] }),
        entry("machines", "m-a", { Uuid: "m-a", HardwareAddrs: ["52:54:00:00:00:0a"] }),
        entry("machines", "m-c", { Uuid: "m-c", HardwareAddrs: "not a list" }),
      ],
    },
  });
  await store.open();
  const warnings: unknown[] = [];
  const log = { ...nullLogger, warn: (_msg: string, fields: unknown) => void warnings.push(fields), child: () => log } as typeof nullLogger;
  const idx = acquireMacIndex(store, log);
  expect(idx.leaseAddrs(mac)).toEqual(["198.51.100.100", "198.51.100.20", "198.51.100.3"]);
  expect(idx.leaseAddrs("01:52:54:00:00:00:02")).toEqual(["2001:db8::5"]);
  expect(idx.machineByMac("52:54:00:00:00:0a")).toBe("m-b");
  expect(idx.machineByMac("52:54:00:00:00:0B")).toBe("m-b");
  expect(warnings).toEqual([{ mac: "52:54:00:00:00:0a", machine: "m-b", other: "m-a" }]);
  // Deleting the loser leaves the winner; deleting the winner frees the MAC.
  await store.delete("machines", "m-a");
  expect(idx.machineByMac("52:54:00:00:00:0a")).toBe("m-b");
  await store.delete("machines", "m-b");
  expect(idx.machineByMac("52:54:00:00:00:0a")).toBeUndefined();
  expect(idx.machineByMac("52:54:00:00:00:0b")).toBeUndefined();
  // A loaded lease moved to another MAC, one deleted, the IPv6 one moved to a canonical MAC.
  await store.put("leases", "198.51.100.20", lease("198.51.100.20", "52:54:00:00:00:02"));
  await store.delete("leases", "198.51.100.100");
  await store.put("leases", "2001:db8::5", lease("2001:db8::5", "52:54:00:00:00:02"));
  await store.put("leases", "198.51.100.7", lease("198.51.100.7", mac));
  expect(idx.leaseAddrs(mac)).toEqual(["198.51.100.3", "198.51.100.7"]);
  expect(idx.leaseAddrs("52:54:00:00:00:02")).toEqual(["198.51.100.20", "2001:db8::5"]);
  expect(idx.leaseAddrs("01:52:54:00:00:00:02")).toEqual([]);
  // The index agrees with a fresh one built from the store now.
  const copy = new MemoryStore({ snapshot: await store.exportSnapshot() });
  await copy.open();
  const fresh = acquireMacIndex(copy, nullLogger);
  for (const m of [mac, "52:54:00:00:00:02", "01:52:54:00:00:00:02"]) expect([...idx.leaseAddrs(m)].sort()).toEqual([...fresh.leaseAddrs(m)].sort());
  fresh.release();
  await copy.close();
  idx.release();
  await store.close();
});
