import { expect, test } from "bun:test";
import { fieldsTable, formatCell, objectsTable, renderTable, valueAt } from "./table.ts";

test("valueAt follows dotted paths and stops at non-objects", () => {
  const o = { OS: { Name: "debian" }, List: [1], S: "x" };
  expect(valueAt(o, "OS.Name")).toBe("debian");
  expect(valueAt(o, "S.length")).toBeUndefined();
  expect(valueAt(o, "List.0")).toBeUndefined();
  expect(valueAt(o, "Missing.X")).toBeUndefined();
});

test("formatCell", () => {
  expect(formatCell(undefined)).toBe("");
  expect(formatCell(null)).toBe("");
  expect(formatCell(true)).toBe("true");
  expect(formatCell(3)).toBe("3");
  expect(formatCell(["a", "b"])).toBe("a,b");
  expect(formatCell([{ a: 1 }])).toBe('{"a":1}');
  expect(formatCell({ a: 1 })).toBe('{"a":1}');
  expect(formatCell("line1\nline2")).toBe("line1\\nline2");
  expect(formatCell("x".repeat(100), 10)).toBe("xxxxxxxxx…");
});

test("renderTable aligns columns and does not pad the last one", () => {
  expect(renderTable(["A", "LONGER"], [["xxxx", "1"], ["y", ""]])).toBe("A     LONGER\nxxxx  1\ny");
});

test("objectsTable and fieldsTable", () => {
  const t = objectsTable([{ Name: "n1", OS: { Name: "debian" } }, { Name: "second" }], [
    { header: "Name", path: "Name" },
    { header: "OS", path: "OS.Name" },
  ]);
  expect(t.split("\n")).toEqual(["Name    OS", "n1      debian", "second"]);
  expect(fieldsTable({ Name: "n1", Profiles: ["a", "b"] }).split("\n")).toEqual([
    "FIELD     VALUE",
    "Name      n1",
    "Profiles  a,b",
  ]);
});
