// Pointing `doctor` at a machine: MACs in every common spelling, Uuids, names, index keys, and
// MAC typos refused with a sentence instead of becoming a search for a machine of that name.

import { expect, test } from "bun:test";
import { UsageError } from "./cli-error.ts";
import { machineKey, parseMac, parseMachineRef } from "./machine-ref.ts";

test("MAC spellings all normalise to lower-case colon form", () => {
  for (const s of ["aa:bb:cc:dd:ee:0f", "AA:BB:CC:DD:EE:0F", "aa-bb-cc-dd-ee-0f", "AA-BB-CC-DD-EE-0F", "aabb.ccdd.ee0f", "AABB.CCDD.EE0F", "aabbccddee0f", "01-aa-bb-cc-dd-ee-0f", "01:aa:bb:cc:dd:ee:0f", " aa:bb:cc:dd:ee:0f "]) {
    expect({ s, ref: parseMachineRef(s) }).toEqual({ s, ref: { kind: "mac", mac: "aa:bb:cc:dd:ee:0f" } });
  }
  expect(parseMac("a:b:c:d:e:f")).toBe("0a:0b:0c:0d:0e:0f");
});

test("bad MACs are usage errors that say what is wrong and how to name such a machine", () => {
  const cases: [string, string][] = [
    ["aa:bb:cc:dd:ee", "has 5 bytes"],
    ["aa:bb:cc:dd:ee:ff:00", "has 7 bytes"],
    ["aa:bb:cc:dd:ee:gg", 'bad hex digit "g"'],
    ["aa:bb-cc:dd:ee:ff", "mixes"],
    ["aabb.ccdd.ee", "4 hex digits"],
    ["aabb.ccdd", "has 4 bytes"],
    ["aaa:bb:cc:dd:ee:ff", "1 or 2 hex digits"],
    ["02-aa-bb-cc-dd-ee-ff", "has 7 bytes"],
  ];
  for (const [s, why] of cases) {
    let err: unknown;
    try {
      parseMachineRef(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect({ s, message: (err as Error).message }).toEqual({ s, message: expect.stringContaining(why) });
    expect((err as Error).message).toContain("Name:<name>");
  }
  expect(() => parseMac(Array.from({ length: 20 }, () => "ab").join(":"))).toThrow("6-byte Ethernet");
  expect(() => parseMachineRef("  ")).toThrow("empty machine");
});

test("Uuids, names and index keys are machines", () => {
  expect(parseMachineRef("0AB3C4D5-0000-4000-8000-000000000001")).toEqual({ kind: "machine", key: "0ab3c4d5-0000-4000-8000-000000000001" });
  expect(parseMachineRef("web1")).toEqual({ kind: "machine", key: "Name:web1" });
  expect(parseMachineRef("rack-1-node-2")).toEqual({ kind: "machine", key: "Name:rack-1-node-2" });
  expect(parseMachineRef("cafe-01")).toEqual({ kind: "machine", key: "Name:cafe-01" });
  expect(parseMachineRef("Name:aa:bb")).toEqual({ kind: "machine", key: "Name:aa:bb" });
  expect(parseMachineRef("Name:aabbccddeeff")).toEqual({ kind: "machine", key: "Name:aabbccddeeff" });
  expect(machineKey("00000000-0000-4000-8000-000000000001")).toBe("00000000-0000-4000-8000-000000000001");
  expect(machineKey("Address:198.51.100.7")).toBe("Address:198.51.100.7");
  expect(machineKey("web1")).toBe("Name:web1");
});
