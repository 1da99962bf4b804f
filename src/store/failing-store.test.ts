import { describe, expect, test } from "bun:test";
import { SocleError } from "../model/errors.ts";
import { FailingStore } from "./failing-store.ts";

describe("FailingStore", () => {
  test("reads answer from the given objects; every write rejects Unavailable", async () => {
    const s = new FailingStore({ objects: { machines: { b: { Name: "b" }, a: { Name: "a" } } }, reason: "disk full" });
    await s.open();
    expect(s.get("machines", "a")).toEqual({ Name: "a" });
    expect(Object.isFrozen(s.get("machines", "a"))).toBe(true);
    expect(s.list("machines").map((m) => m.Name)).toEqual(["a", "b"]);
    expect(s.count("machines")).toBe(2);
    expect(s.count("leases")).toBe(0);
    const names: Array<[string, unknown]> = [];
    s.scanField("machines", "Name", (key, value) => names.push([key, value]));
    s.scanField("machines", "Missing", (key, value) => names.push([key, value]));
    expect(names).toEqual([
      ["a", "a"],
      ["b", "b"],
      ["a", undefined],
      ["b", undefined],
    ]);
    expect(() => s.scanField("machines", "constructor", () => {})).toThrow("every object inherits");
    for (const p of [s.put("machines", "a", {}), s.delete("machines", "a")]) {
      const e = (await p.catch((x: unknown) => x)) as SocleError;
      expect(e).toBeInstanceOf(SocleError);
      expect(e.type).toBe("Unavailable");
      expect(e.code).toBe(503);
      expect(e.message).toContain('machines "a"');
      expect(e.message).toContain("disk full");
    }
    expect(s.seq).toBe(0);
  });

  test("failOpen makes open reject", async () => {
    const e = (await new FailingStore({ failOpen: true }).open().catch((x: unknown) => x)) as SocleError;
    expect(e.type).toBe("Unavailable");
  });
});
