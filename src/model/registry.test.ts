import { describe, expect, test } from "bun:test";
import type { ModelObject } from "./object.ts";
import { indexValueKey, MODELS, modelFor, uniqueConflicts } from "./registry.ts";

describe("registry", () => {
  test("every type, keyed by prefix, with its key indexed as unique", () => {
    expect(Object.keys(MODELS).sort()).toEqual(["bootenvs", "jobs", "leases", "machines", "params", "profiles", "reservations", "roles", "stages", "subnets", "tasks", "templates", "users", "webhooks", "workflows"]);
    for (const [prefix, def] of Object.entries(MODELS)) {
      expect(def.prefix).toBe(prefix);
      expect(def.model).toBe(prefix);
      expect(def.indexes[def.key]?.unique).toBe(true);
      expect(def.indexes.Available?.kind).toBe("boolean");
    }
    expect(modelFor("machines")?.key).toBe("Uuid");
    expect(modelFor("templates")?.key).toBe("ID");
    expect(modelFor("leases")?.key).toBe("Addr");
    expect(modelFor("nope")).toBeUndefined();
    expect(modelFor("toString")).toBeUndefined();
  });
  test("every type's prepare fills the meta fields", () => {
    const minimal: Record<string, ModelObject> = {
      machines: { Name: "n" },
      bootenvs: { Name: "b" },
      templates: { ID: "t" },
      params: { Name: "p" },
      profiles: { Name: "p" },
      subnets: { Name: "s", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.10", ActiveEnd: "198.51.100.20" },
      reservations: { Addr: "198.51.100.5", Token: "52:54:00:00:00:01" },
      leases: { Addr: "198.51.100.10", Token: "52:54:00:00:00:01", State: "OFFER", ExpireTime: "2026-01-01T00:00:00Z" },
      users: { Name: "u" },
      roles: { Name: "r" },
    };
    for (const [prefix, input] of Object.entries(minimal)) {
      const out = modelFor(prefix)!.prepare(input);
      expect(out).toMatchObject({ Validated: true, Available: true, Errors: [], ReadOnly: false, Meta: {} });
    }
  });
});

describe("uniqueConflicts", () => {
  const machines = MODELS.machines!;
  const a = machines.prepare({ Name: "a", Address: "198.51.100.1", HardwareAddrs: ["52:54:00:00:00:01", "52:54:00:00:00:02"] });
  const b = machines.prepare({ Name: "b", Address: "", HardwareAddrs: [] });
  test("name, address, each hardware address", () => {
    const c = machines.prepare({ Name: "a", Address: "198.51.100.1", HardwareAddrs: ["52-54-00-00-00-02"] });
    expect(uniqueConflicts(machines, c, [a, b])).toEqual([
      `Name: "a" is already used by machines "${a.Uuid}"`,
      `Address: "198.51.100.1" is already used by machines "${a.Uuid}"`,
      `HardwareAddrs: "52:54:00:00:00:02" is already used by machines "${a.Uuid}"`,
    ]);
  });
  test("empty values never collide; the object itself is skipped", () => {
    const c = machines.prepare({ Name: "c", Address: "" });
    expect(uniqueConflicts(machines, c, [a, b])).toEqual([]);
    expect(uniqueConflicts(machines, { ...a, Description: "changed" }, [a, b])).toEqual([]);
  });
  test("types without extra unique indexes", () => {
    expect(uniqueConflicts(MODELS.profiles!, { Name: "p" }, [{ Name: "q" }])).toEqual([]);
    const subnets = MODELS.subnets!;
    expect(uniqueConflicts(subnets, { Name: "s2", Subnet: "198.51.100.0/24" }, [{ Name: "s1", Subnet: "198.51.100.0/24" }])).toEqual(['Subnet: "198.51.100.0/24" is already used by subnets "s1"']);
  });
  test("indexValueKey normalises by kind", () => {
    expect(indexValueKey("mac", "AA-BB-CC-DD-EE-FF")).toBe("aa:bb:cc:dd:ee:ff");
    expect(indexValueKey("ip", "198.51.100.1")).toBe("198.51.100.1");
    expect(indexValueKey("string", "")).toBeUndefined();
    expect(indexValueKey("number", 5)).toBe("5");
  });
});
