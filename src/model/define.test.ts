import { describe, expect, test } from "bun:test";
import { z } from "zod";
import { defineModel, formatPath } from "./define.ts";
import { SocleError } from "./errors.ts";

const widgets = defineModel({
  prefix: "widgets",
  key: "Name",
  shape: { Name: z.string().min(1), Size: z.number().max(10).default(1), Tags: z.array(z.string()).min(1).default(() => ["x"]), Kind: z.enum(["a", "b"]).default("a") },
  secretFields: ["Token"],
  check: (o) => (o.Size === 7 ? ["Size: 7 is unlucky"] : []),
});

describe("defineModel", () => {
  test("adds meta fields and indexes", () => {
    expect(widgets.prepare({ Name: "w" })).toEqual({ Name: "w", Size: 1, Tags: ["x"], Kind: "a", Meta: {}, Validated: true, Available: true, Errors: [], ReadOnly: false });
    expect(Object.keys(widgets.indexes)).toEqual(["Name", "Validated", "Available", "ReadOnly"]);
    expect(widgets.references({})).toEqual([]);
  });
  test("server-set fields from the client are ignored, even of the wrong type", () => {
    expect(widgets.prepare({ Name: "w", Validated: "no", Errors: 5, Available: false }).Available).toBe(true);
  });
  test("generic zod issues become readable messages", () => {
    try {
      widgets.prepare({ Name: "", Size: 11, Tags: [], Kind: "c", Meta: { a: 1 } });
      throw new Error("not thrown");
    } catch (e) {
      expect(e).toBeInstanceOf(SocleError);
      expect((e as SocleError).messages).toEqual([
        "Name: must not be empty",
        "Size: 11 is above the maximum of 10",
        "Tags: [] is below the minimum of 1",
        'Kind: "c" is not one of "a", "b"',
        "Meta.a: expected string, got number 1",
      ]);
    }
  });
  test("cross-field checks run after the shape check", () => {
    expect(() => widgets.prepare({ Name: "w", Size: 7 })).toThrow("Size: 7 is unlucky");
  });
  test("prepare does not modify its input", () => {
    const input = { Name: "w", Validated: false };
    widgets.prepare(input);
    expect(input).toEqual({ Name: "w", Validated: false });
  });
});

test("formatPath", () => {
  expect(formatPath(["HardwareAddrs", 1])).toBe("HardwareAddrs[1]");
  expect(formatPath(["Templates", 0, "ID"])).toBe("Templates[0].ID");
  expect(formatPath([])).toBe("");
});
