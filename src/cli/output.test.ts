import { expect, test } from "bun:test";
import YAML from "yaml";
import { formatOutput } from "./output.ts";
import { findType } from "./types.ts";

const machines = [
  { Uuid: "u1", Name: "n1", Address: "198.51.100.10", HardwareAddrs: ["52:54:00:00:00:01"], BootEnv: "local", Available: true },
  { Uuid: "u2", Name: "n2", Address: "", HardwareAddrs: [], BootEnv: "discovery", Available: false },
];

test("json is pretty with two spaces", () => {
  expect(formatOutput({ a: [1] }, "json")).toBe('{\n  "a": [\n    1\n  ]\n}');
  expect(formatOutput(undefined, "json")).toBe("null");
});

test("yaml round-trips", () => {
  const y = formatOutput(machines, "yaml");
  expect(YAML.parse(y)).toEqual(machines);
  expect(y.endsWith("\n")).toBe(false);
});

test("table of a known type uses its columns", () => {
  const lines = formatOutput(machines, "table", findType("machines")).split("\n");
  expect(lines[0]).toMatch(/^Uuid\s+Name\s+Address\s+HardwareAddrs\s+BootEnv\s+Available$/);
  expect(lines[1]).toMatch(/^u1\s+n1\s+198\.51\.100\.10\s+52:54:00:00:00:01\s+local\s+true$/);
  expect(lines).toHaveLength(3);
  // Columns line up: "Name" starts at the same offset in every row.
  const at = lines[0]!.indexOf("Name");
  expect(lines[1]!.slice(at, at + 2)).toBe("n1");
});

test("table of an object is FIELD/VALUE; of unknown objects guesses scalar columns", () => {
  expect(formatOutput({ Version: "0.1.0" }, "table")).toBe("FIELD    VALUE\nVersion  0.1.0");
  expect(formatOutput([{ a: 1, b: { x: 1 }, c: "z" }], "table")).toBe("a  c\n1  z");
  expect(formatOutput("plain", "table")).toBe("plain");
  expect(formatOutput(["x", 2], "table")).toBe("x\n2");
});
