import { describe, expect, test } from "bun:test";
import { MODELS, uniqueConflicts } from "./registry.ts";
import { UniqueIndex } from "./unique-index.ts";

const machines = MODELS.machines!;
const m = (Uuid: string, Name: string, macs: string[], Address = "") => ({ Uuid, Name, HardwareAddrs: macs, Address });

describe("UniqueIndex", () => {
  test("finds what uniqueConflicts finds, worded the same, without the object itself", () => {
    const idx = new UniqueIndex(machines);
    const a = m("a", "n1", ["52:54:00:00:00:01"], "198.51.100.7");
    const b = m("b", "n2", ["52:54:00:00:00:02", "52:54:00:00:00:03"]);
    idx.set("a", a);
    idx.set("b", b);
    // MAC spelling and address form are compared normalised, as the scan does.
    const c = m("c", "n1", ["52-54-00-00-00-03"], "198.51.100.7");
    expect(idx.conflicts(c, "c", () => false).sort()).toEqual(uniqueConflicts(machines, c, [a, b]).sort());
    expect(idx.conflicts(c, "c", () => false)).toHaveLength(3);
    expect(idx.conflicts({ ...a, Name: "renamed" }, "a", () => false)).toEqual([]);
  });

  test("follows updates and deletes; skipped keys (writes in flight) do not count", () => {
    const idx = new UniqueIndex(machines);
    idx.set("a", m("a", "n1", ["52:54:00:00:00:01"]));
    const probe = m("p", "n1", ["52:54:00:00:00:01"]);
    expect(idx.conflicts(probe, "p", () => false)).toHaveLength(2);
    expect(idx.conflicts(probe, "p", (k) => k === "a")).toEqual([]);
    idx.set("a", m("a", "n9", ["52:54:00:00:00:09"]));
    expect(idx.conflicts(probe, "p", () => false)).toEqual([]);
    expect(idx.conflicts(m("p", "n9", []), "p", () => false)).toEqual(['Name: "n9" is already used by machines "a"']);
    idx.set("a", undefined);
    expect(idx.conflicts(m("p", "n9", ["52:54:00:00:00:09"]), "p", () => false)).toEqual([]);
  });

  test("empty values never collide; a value two stored objects share (loaded that way) names both", () => {
    const idx = new UniqueIndex(machines);
    idx.set("a", m("a", "n1", [], ""));
    idx.set("b", m("b", "n2", ["52:54:00:00:00:05"]));
    idx.set("c", m("c", "n3", ["52:54:00:00:00:05"]));
    expect(idx.conflicts(m("p", "n4", [], ""), "p", () => false)).toEqual([]);
    expect(idx.conflicts(m("p", "n4", ["52:54:00:00:00:05"]), "p", () => false)).toHaveLength(2);
    idx.set("b", undefined);
    expect(idx.conflicts(m("p", "n4", ["52:54:00:00:00:05"]), "p", () => false)).toEqual(['HardwareAddrs: "52:54:00:00:00:05" is already used by machines "c"']);
  });
});
