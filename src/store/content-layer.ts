// Builds a read-only layer from a content directory on disk, one folder per boot environment:
//
//   <dir>/<name>/bootenv.yaml|yml|json     bootenvs object (Name defaults to <name>, must match)
//   <dir>/<name>/templates/<file>.tmpl     templates object: ID = file name, Contents = file text
//   <dir>/<name>/params/<p>.yaml|yml|json  params object (Name defaults to <p>, must match)
//   <dir>/<name>/profiles/<p>.yaml|yml|json
//
// Syntax errors name the file and line (JSON.parse does not say where, so json-error-position.ts
// finds it). Objects are not validated against their schemas here; the caller does that.
// Hidden entries and other files (READMEs) are ignored. The same key from two files is an error
// naming both.

import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { invalid } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import type { ReadOnlyLayer } from "./store.ts";
import { jsonErrorOffset, lineColumn } from "./json-error-position.ts";

const DATA_FILE = /\.(ya?ml|json)$/;
const BOOTENV_FILE = /^bootenv\.(ya?ml|json)$/;

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

async function entries(dir: string): Promise<{ name: string; isDir: boolean; isFile: boolean }[]> {
  let list;
  try {
    list = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return list
    .filter((d) => !d.name.startsWith("."))
    .map((d) => ({ name: d.name, isDir: d.isDirectory(), isFile: d.isFile() }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function loadContentLayer(dir: string): Promise<ReadOnlyLayer> {
  const objects = new Map<string, Map<string, ModelObject>>();
  const from = new Map<string, string>(); // "type\0key" -> file, for duplicate reports
  const add = (type: string, key: string, obj: ModelObject, file: string) => {
    const id = `${type}\u0000${key}`;
    const other = from.get(id);
    if (other) throw contentError(file, `${type} "${key}" is also defined by "${other}"`);
    from.set(id, file);
    let m = objects.get(type);
    if (!m) objects.set(type, (m = new Map()));
    m.set(key, obj);
  };
  const named = (obj: ModelObject, want: string, file: string, what: string): ModelObject => {
    if (obj.Name === undefined) return { ...obj, Name: want };
    if (obj.Name !== want) {
      throw contentError(file, `Name ${JSON.stringify(obj.Name)} does not match the ${what} "${want}"`);
    }
    return obj;
  };

  const top = await fsp.stat(dir).catch(() => null);
  if (!top?.isDirectory()) throw contentError(dir, "not a directory");

  for (const folder of await entries(dir)) {
    if (!folder.isDir) continue;
    const base = path.join(dir, folder.name);
    for (const f of await entries(base)) {
      if (!f.isFile || !BOOTENV_FILE.test(f.name)) continue;
      const file = path.join(base, f.name);
      const obj = parseContentFile(file, await fsp.readFile(file, "utf8"));
      add("bootenvs", folder.name, named(obj, folder.name, file, "folder name"), file);
    }
    for (const f of await entries(path.join(base, "templates"))) {
      if (!f.isFile || !f.name.endsWith(".tmpl")) continue;
      const file = path.join(base, "templates", f.name);
      add("templates", f.name, { ID: f.name, Contents: await fsp.readFile(file, "utf8") }, file);
    }
    for (const type of ["params", "profiles"] as const) {
      for (const f of await entries(path.join(base, type))) {
        if (!f.isFile || !DATA_FILE.test(f.name)) continue;
        const file = path.join(base, type, f.name);
        const want = f.name.replace(DATA_FILE, "");
        const obj = parseContentFile(file, await fsp.readFile(file, "utf8"));
        add(type, want, named(obj, want, file, "file name"), file);
      }
    }
  }
  return { objects };
}
