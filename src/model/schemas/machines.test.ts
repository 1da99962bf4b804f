import { describe, expect, test } from "bun:test";
import { machines, normalizeArch } from "./machines.ts";
import { messagesOf, rejection } from "./test-util.ts";

describe("machines", () => {
  test("defaults, generated Uuid and Secret, normalised values, meta fields", () => {
    const m = machines.prepare({ Name: "n1", HardwareAddrs: ["52-54-00-AA-BB-CC"], Arch: "x86_64", Validated: false, Errors: ["old"], ReadOnly: true, Meta: { color: "red" } });
    expect(m.Uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof m.Secret).toBe("string");
    expect((m.Secret as string).length).toBeGreaterThanOrEqual(16);
    expect(m).toMatchObject({
      Name: "n1",
      Description: "",
      Address: "",
      HardwareAddrs: ["52:54:00:aa:bb:cc"],
      Arch: "amd64",
      BootEnv: "",
      Profiles: [],
      Params: {},
      Workflow: "",
      Stage: "",
      Runnable: true,
      Meta: { color: "red" },
      Validated: true,
      Available: true,
      Errors: [],
      ReadOnly: false,
    });
    expect(machines.prepare({ Name: "n2", Uuid: "3F2504E0-4F89-11D3-9A0C-0305E82C3301" }).Uuid).toBe("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
    expect(machines.prepare({ Name: "n3" }).Secret).not.toBe(machines.prepare({ Name: "n3" }).Secret);
  });

  test("every problem at once, each naming the field and quoting the value", () => {
    const e = rejection(machines, {
      Name: "a/b",
      Address: "198.51.100.256",
      HardwareAddrs: ["52:54:00:aa:bb:cc", "zz:01", "52-54-00-AA-BB-CC"],
      Arch: "sparc",
      Profiles: ["p", "p"],
      Params: { "bad:name": 1 },
      Runnable: "yes",
      Colour: "blue",
    });
    expect(e.code).toBe(422);
    expect(e.model).toBe("machines");
    expect(e.key).toBe("");
    expect(e.messages).toEqual([
      'Name: invalid name "a/b": contains "/"',
      'Address: invalid IPv4 address "198.51.100.256": part "256" is greater than 255',
      'HardwareAddrs[1]: invalid MAC "zz:01": bad hex digit "z"',
      'HardwareAddrs[2]: duplicate hardware address "52:54:00:aa:bb:cc" (also at [0])',
      'Arch: unknown architecture "sparc"; known: amd64, arm64, 386, arm, ppc64le, s390x, riscv64',
      'Profiles[1]: duplicate profile "p" (also at [0])',
      'Params.bad:name: invalid parameter name "bad:name": contains ":"',
      'Runnable: expected boolean, got string "yes"',
      expect.stringMatching(/^Colour: unknown field; valid fields: Uuid, Name, .*Meta$/) as unknown as string,
    ]);
  });

  test("missing Name, wrong container types", () => {
    expect(messagesOf(machines, {})).toEqual(["Name: is required"]);
    expect(messagesOf(machines, { Name: "n", HardwareAddrs: "52:54:00:aa:bb:cc", Params: [] })).toEqual([
      'HardwareAddrs: expected array, got string "52:54:00:aa:bb:cc"',
      "Params: expected record, got array []",
    ]);
    expect(messagesOf(machines, "n1")).toEqual(['expected a JSON object, got string "n1"']);
    expect(messagesOf(machines, null)).toEqual(["expected a JSON object, got null null"]);
  });

  test("updates keep Uuid, Secret and Meta and refuse a key change", () => {
    const first = machines.prepare({ Name: "n1", Meta: { a: "b" } });
    const again = machines.prepare({ Name: "n1-renamed" }, first);
    expect(again.Uuid).toBe(first.Uuid);
    expect(again.Secret).toBe(first.Secret);
    expect(again.Meta).toEqual({ a: "b" });
    expect(machines.prepare({ Name: "n1", Uuid: (first.Uuid as string).toUpperCase() }, first).Uuid).toBe(first.Uuid);
    const e = rejection(machines, { Name: "n1", Uuid: "00000000-0000-0000-0000-000000000000" }, first);
    expect(e.key).toBe("00000000-0000-0000-0000-000000000000");
    expect(e.messages).toEqual([`Uuid: may not change from "${first.Uuid}" to "00000000-0000-0000-0000-000000000000"`]);
    // The stored object is not modified by prepare.
    expect(first.Name).toBe("n1");
  });

  test("works on deep-frozen input and existing objects (as the store returns them)", () => {
    const deepFreeze = <T>(o: T): T => {
      if (typeof o === "object" && o !== null) {
        for (const v of Object.values(o)) deepFreeze(v);
        Object.freeze(o);
      }
      return o;
    };
    const existing = deepFreeze(machines.prepare({ Name: "n1", Meta: { a: "b" }, Params: { x: [1] } }));
    const input = deepFreeze({ Name: "n1", Params: { x: [2] }, HardwareAddrs: ["52-54-00-00-00-01"] });
    const out = machines.prepare(input, existing);
    expect(out).toMatchObject({ Uuid: existing.Uuid, Params: { x: [2] }, HardwareAddrs: ["52:54:00:00:00:01"], Meta: { a: "b" } });
    (out.Meta as Record<string, string>).c = "d"; // the result is the caller's to modify
    expect(existing.Meta).toEqual({ a: "b" });
  });

  test("references: BootEnv when set, each profile", () => {
    expect(machines.references(machines.prepare({ Name: "n", BootEnv: "ubuntu", Profiles: ["a", "b"] }))).toEqual([
      { type: "bootenvs", key: "ubuntu", field: "BootEnv" },
      { type: "profiles", key: "a", field: "Profiles[0]" },
      { type: "profiles", key: "b", field: "Profiles[1]" },
    ]);
    expect(machines.references(machines.prepare({ Name: "n" }))).toEqual([]);
  });

  test("def shape", () => {
    expect(machines.key).toBe("Uuid");
    expect(machines.secretFields).toEqual(["Secret"]);
    expect(machines.writable).toBe(true);
    expect(machines.indexes.HardwareAddrs).toEqual({ unique: true, kind: "list", element: "mac" });
    expect(machines.indexes.Uuid?.unique).toBe(true);
    expect(normalizeArch("AArch64")).toBe("arm64");
  });
});
