// Parses one content file (YAML or JSON, by extension) into an object. Syntax errors name the
// file and line (JSON.parse does not say where, so json-error-position.ts finds it). The content
// layout and schema validation live in src/content/layer.ts.

import { parseDocument } from "yaml";
import { invalid } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import { jsonErrorOffset, lineColumn } from "./json-error-position.ts";

function contentError(file: string, msg: string) {
  return invalid("content", file, `cannot load content "${file}": ${msg}`);
}

/** Parse YAML or JSON (by file extension) into an object; errors name the file and the line. */
export function parseContentFile(file: string, text: string): ModelObject {
  let value: unknown;
  if (file.endsWith(".json")) {
    try {
      value = JSON.parse(text);
    } catch (err) {
      const at = lineColumn(text, Math.max(0, jsonErrorOffset(text)));
      const why = (err as Error).message.replace(/^JSON Parse error: /, "");
      throw contentError(file, `invalid JSON at line ${at.line}, column ${at.column}: ${why}`);
    }
  } else {
    const doc = parseDocument(text);
    const first = doc.errors[0];
    if (first) {
      const pos = first.linePos?.[0];
      const where = pos ? ` at line ${pos.line}, column ${pos.col}` : "";
      // The yaml package appends " at line N, column M:" and a code excerpt; keep the reason.
      const why = (first.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
      throw contentError(file, `invalid YAML${where}: ${why}`);
    }
    value = doc.toJS();
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const got = value === null ? "nothing" : Array.isArray(value) ? "a list" : typeof value;
    throw contentError(file, `want a mapping (object) at the top level, got ${got}`);
  }
  return value as ModelObject;
}
