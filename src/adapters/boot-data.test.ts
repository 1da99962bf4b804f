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

  expect(data.prefs()).toEqual({ unknownBootEnv: "ignore", defaultBootEnv: "local", unknownTokenTimeout: 600, knownTokenTimeout: 3600 });
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
