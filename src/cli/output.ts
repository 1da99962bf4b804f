// Printing API answers: json (2-space pretty), yaml, or an aligned table for people.

import YAML from "yaml";
import type { OutputFormat } from "../config/client-config.ts";
import { fieldsTable, objectsTable } from "./table.ts";
import type { Column, CliType } from "./types.ts";

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

export function formatOutput(value: unknown, format: OutputFormat, type?: CliType): string {
  switch (format) {
    case "json":
      return JSON.stringify(value, null, 2) ?? "null";
    case "yaml":
      return YAML.stringify(value).trimEnd();
    case "table":
      return formatTableOutput(value, type);
  }
}

function formatTableOutput(value: unknown, type?: CliType): string {
  if (Array.isArray(value)) {
    if (value.every(isRecord)) return objectsTable(value, type?.columns ?? guessColumns(value));
    return value.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join("\n");
  }
  if (isRecord(value)) return fieldsTable(value);
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Columns for objects of no known type: the first few fields whose values are scalars. */
function guessColumns(objects: Record<string, unknown>[]): Column[] {
  const names: string[] = [];
  for (const o of objects) {
    for (const [k, v] of Object.entries(o)) {
      if (names.length >= 6) break;
      if (!names.includes(k) && (v === null || typeof v !== "object")) names.push(k);
    }
  }
  return names.map((n) => ({ header: n, path: n }));
}
