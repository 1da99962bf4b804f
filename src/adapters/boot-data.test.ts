import { expect, test } from "bun:test";
import { nullLogger } from "../log/logger.ts";
import { MemoryStore } from "../store/memory-store.ts";
import { machines } from "../model/schemas/machines.ts";
import type { BootDataChange } from "../boot/boot-data.ts";
import { createStoreBootData } from "./boot-data.ts";

test("MAC index and prefs follow the store's change feed", async () => {
  const store = new MemoryStore();
  await store.open();
  const m = machines.prepare({ Name: "n1", HardwareAddrs: ["52:54:00:00:00:01"] });
  await store.put("machines", String(m.Uuid), m);
  const data = createStoreBootData(store, nullLogger);
  const seen: BootDataChange[] = [];
  data.subscribe((c) => seen.push(c));

  expect(data.machineByMac("52:54:00:00:00:01")?.Name).toBe("n1");
  expect(data.machineByMac("52:54:00:00:00:01".toUpperCase())?.Name).toBe("n1");
  await store.put("machines", String(m.Uuid), { ...m, HardwareAddrs: ["52:54:00:00:00:02"] });
  expect(data.machineByMac("52:54:00:00:00:01")).toBeUndefined();
  expect(data.machineByMac("52:54:00:00:00:02")?.Uuid).toBe(m.Uuid);

  expect(data.prefs()).toEqual({ unknownBootEnv: "ignore", defaultBootEnv: "local", unknownTokenTimeout: 600, knownTokenTimeout: 3600, bindMachineFiles: true });
  await store.put("prefs", "prefs", { unknownBootEnv: "discovery", unknownTokenTimeout: "120" });
  expect(data.prefs()).toMatchObject({ unknownBootEnv: "discovery", unknownTokenTimeout: 120 });

  await store.put("leases", "198.51.100.9", { Addr: "198.51.100.9" }); // not boot data: no notification
  await store.delete("machines", String(m.Uuid));
  expect(data.machineByMac("52:54:00:00:00:02")).toBeUndefined();
  expect(seen.map((c) => `${c.type} ${c.object ? "set" : "deleted"}`)).toEqual(["machines set", "prefs set", "machines deleted"]);

  data.close();
  await store.put("machines", String(m.Uuid), m);
  expect(seen.length).toBe(3);
  await store.close();
});

test("addressesOf: the machine's Address and its MACs' active leases, following the store", async () => {
  const store = new MemoryStore();
  await store.open();
  const NOW = Date.parse("2030-01-01T00:00:00Z");
  const later = "2030-01-01T01:00:00Z";
  const earlier = "2029-12-31T23:00:00Z";
  const m = machines.prepare({ Name: "n1", HardwareAddrs: ["52:54:00:00:00:01", "52:54:00:00:00:02"], Address: "198.51.100.7" });
  await store.put("machines", String(m.Uuid), m);
  const lease = (Addr: string, Token: string, State: string, ExpireTime: string, Via = "") => ({ Addr, Token, State, ExpireTime, Via, Strategy: "MAC", Hostname: "" });
  await store.put("leases", "198.51.100.20", lease("198.51.100.20", "52:54:00:00:00:01", "ACK", later));
  const data = createStoreBootData(store, nullLogger, () => NOW);
  const seen: BootDataChange[] = [];
  data.subscribe((c) => seen.push(c));
  expect(data.addressesOf(m)).toEqual(["198.51.100.7", "198.51.100.20"]);

  // A relayed lease (Via) of the second NIC counts; expired, declined, released and other MACs' do not.
  await store.put("leases", "203.0.113.5", lease("203.0.113.5", "52:54:00:00:00:02", "ACK", later, "203.0.113.1"));
  await store.put("leases", "198.51.100.21", lease("198.51.100.21", "52:54:00:00:00:01", "ACK", earlier));
  await store.put("leases", "198.51.100.22", lease("198.51.100.22", "52:54:00:00:00:01", "DECLINE", later));
  await store.put("leases", "198.51.100.23", lease("198.51.100.23", "52:54:00:00:00:02", "RELEASED", later));
  await store.put("leases", "198.51.100.24", lease("198.51.100.24", "52:54:00:00:00:99", "ACK", later));
  expect(data.addressesOf(m)).toEqual(["198.51.100.7", "198.51.100.20", "203.0.113.5"]);

  // A lease that moves to another MAC, or is deleted, stops counting; leases notify no subscriber.
  await store.put("leases", "198.51.100.20", lease("198.51.100.20", "52:54:00:00:00:99", "ACK", later));
  await store.delete("leases", "203.0.113.5");
  expect(data.addressesOf(m)).toEqual(["198.51.100.7"]);
  expect(data.addressesOf({ ...m, Address: "" })).toEqual([]);
  expect(seen).toEqual([]);
  data.close();
  await store.close();
});
