// Plain aligned text tables for `-o table`: header row, then one row per object. Cells are one
// line each; long values are cut with an ellipsis because the table is for eyes, json is for tools.

import type { Column } from "./types.ts";

const MAX_CELL = 60;

export function valueAt(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function formatCell(v: unknown, max = MAX_CELL): string {
  let s: string;
  if (v === undefined || v === null) s = "";
  else if (typeof v === "string") s = v;
  else if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") s = String(v);
  else if (Array.isArray(v)) s = v.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(",");
  else s = JSON.stringify(v);
  s = s.replace(/\r?\n/g, "\\n").replace(/\t/g, " ");
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** Objects as rows under the given columns. */
export function objectsTable(objects: unknown[], columns: Column[]): string {
  return renderTable(
    columns.map((c) => c.header),
    objects.map((o) => columns.map((c) => formatCell(valueAt(o, c.path)))),
  );
}

/** One object as FIELD / VALUE rows. */
export function fieldsTable(obj: Record<string, unknown>): string {
  return renderTable(
    ["FIELD", "VALUE"],
    Object.entries(obj).map(([k, v]) => [k, formatCell(v, 100)]),
  );
}
