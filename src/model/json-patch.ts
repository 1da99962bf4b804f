// RFC 6902 JSON Patch over RFC 6901 JSON Pointers. The patch applies to a copy, all or nothing.
// Malformed operations are BadRequest (400) naming the op index; a failed `test` or a path that
// does not resolve is Conflict (409), as DRP reports patch failures, so clients can use `test`
// for optimistic concurrency.

import { badRequest, conflict } from "./errors.ts";
import { jsonEqual } from "./json-schema.ts";
import { quote } from "./validate.ts";

export type PatchOp =
  | { op: "add"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "replace"; path: string; value: unknown }
  | { op: "move"; from: string; path: string }
  | { op: "copy"; from: string; path: string }
  | { op: "test"; path: string; value: unknown };

/** Names the patched object in error bodies. */
export interface PatchTarget {
  model: string;
  key: string;
}

const OP_NAMES = ["add", "remove", "replace", "move", "copy", "test"];

type Container = Record<string, unknown> | unknown[];
const isContainer = (v: unknown): v is Container => typeof v === "object" && v !== null;

/** Split a JSON Pointer into unescaped reference tokens ("" is the whole document). */
export function parsePointer(pointer: string): string[] | string {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) return `JSON Pointer ${quote(pointer)} must be empty or start with "/"`;
  const tokens = pointer.slice(1).split("/");
  for (const t of tokens) {
    if (/~[^01]|~$/.test(t)) return `JSON Pointer ${quote(pointer)} has a bad escape in ${quote(t)}: only ~0 and ~1 are allowed`;
  }
  return tokens.map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** Validate the shape of a patch document; returns typed ops or throws BadRequest. */
export function checkPatch(ops: unknown, target: PatchTarget = { model: "patch", key: "" }): PatchOp[] {
  const bad = (msg: string | string[]) => badRequest(target.model, target.key, msg);
  if (!Array.isArray(ops)) throw bad(`a JSON Patch must be an array of operations, got ${quote(ops)}`);
  const problems: string[] = [];
  ops.forEach((raw, i) => {
    const at = `operation ${i}`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      problems.push(`${at}: expected an object, got ${quote(raw)}`);
      return;
    }
    const o = raw as Record<string, unknown>;
    if (typeof o.op !== "string" || !OP_NAMES.includes(o.op)) {
      problems.push(`${at}: unknown op ${quote(o.op)}; expected one of ${OP_NAMES.join(", ")}`);
      return;
    }
    if (typeof o.path !== "string") problems.push(`${at} (${o.op}): "path" must be a string, got ${quote(o.path)}`);
    else {
      const p = parsePointer(o.path);
      if (typeof p === "string") problems.push(`${at} (${o.op}): ${p}`);
    }
    if ((o.op === "add" || o.op === "replace" || o.op === "test") && !Object.hasOwn(o, "value")) {
      problems.push(`${at} (${o.op}): "value" is required`);
    }
    if (o.op === "move" || o.op === "copy") {
      if (typeof o.from !== "string") problems.push(`${at} (${o.op}): "from" must be a string, got ${quote(o.from)}`);
      else {
        const f = parsePointer(o.from);
        if (typeof f === "string") problems.push(`${at} (${o.op}): ${f}`);
        else if (o.op === "move" && typeof o.path === "string" && o.path.startsWith(`${o.from}/`)) {
          problems.push(`${at} (move): cannot move ${quote(o.from)} into its own child ${quote(o.path)}`);
        }
      }
    }
  });
  if (problems.length > 0) throw bad(problems);
  return ops as PatchOp[];
}

/** Array index token: "0" or digits without a leading zero. */
function arrayIndex(token: string): number | undefined {
  return /^(0|[1-9][0-9]{0,8})$/.test(token) ? Number(token) : undefined;
}

function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, not assignment: a "__proto__" member must stay a plain member.
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * Apply `ops` to a deep copy of `doc` and return it. `doc` is never modified.
 * Throws BadRequest for malformed operations, Conflict for failed tests and unresolvable paths.
 */
export function applyPatch<T = unknown>(doc: T, ops: unknown, target: PatchTarget = { model: "patch", key: "" }): T {
  const list = checkPatch(ops, target);
  // A copy through JSON, not structuredClone: a stored object may hold one shared frozen empty
  // list or map in several fields (the store's loaded objects do), and structuredClone keeps that
  // sharing, so adding to one field would add to the others.
  let root: unknown = doc === undefined ? undefined : JSON.parse(JSON.stringify(doc));

  list.forEach((op, i) => {
    const fail = (msg: string) => conflict(target.model, target.key, `operation ${i} (${op.op}) ${msg}`);

    /** The parent container of `tokens` and the last token; throws when the parent is missing. */
    const parentOf = (tokens: string[], pointer: string): [Container, string] => {
      let cur: unknown = root;
      for (let t = 0; t < tokens.length - 1; t++) {
        cur = child(cur, tokens[t] as string, pointer);
      }
      if (!isContainer(cur)) throw fail(`path ${quote(pointer)}: parent is not an object or array`);
      return [cur, tokens[tokens.length - 1] as string];
    };

    const child = (cur: unknown, token: string, pointer: string): unknown => {
      if (Array.isArray(cur)) {
        const n = arrayIndex(token);
        if (n === undefined || n >= cur.length) throw fail(`path ${quote(pointer)}: no array element ${quote(token)}`);
        return cur[n];
      }
      if (isContainer(cur) && Object.hasOwn(cur, token)) return (cur as Record<string, unknown>)[token];
      throw fail(`path ${quote(pointer)} does not exist`);
    };

    const get = (pointer: string): unknown => {
      let cur = root;
      for (const t of parsePointer(pointer) as string[]) cur = child(cur, t, pointer);
      return cur;
    };

    const add = (pointer: string, value: unknown) => {
      const tokens = parsePointer(pointer) as string[];
      if (tokens.length === 0) {
        root = value;
        return;
      }
      const [parent, last] = parentOf(tokens, pointer);
      if (Array.isArray(parent)) {
        const n = last === "-" ? parent.length : arrayIndex(last);
        if (n === undefined || n > parent.length) throw fail(`path ${quote(pointer)}: array index ${quote(last)} is out of range 0..${parent.length}`);
        parent.splice(n, 0, value);
      } else setOwn(parent, last, value);
    };

    const remove = (pointer: string): unknown => {
      const tokens = parsePointer(pointer) as string[];
      if (tokens.length === 0) throw fail("cannot remove the whole document");
      const [parent, last] = parentOf(tokens, pointer);
      const old = child(parent, last, pointer);
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete (parent as Record<string, unknown>)[last];
      return old;
    };

    switch (op.op) {
      case "add":
        add(op.path, structuredClone(op.value));
        break;
      case "remove":
        remove(op.path);
        break;
      case "replace": {
        const tokens = parsePointer(op.path) as string[];
        if (tokens.length === 0) {
          root = structuredClone(op.value);
          break;
        }
        const [parent, last] = parentOf(tokens, op.path);
        child(parent, last, op.path); // must exist
        if (Array.isArray(parent)) parent[Number(last)] = structuredClone(op.value);
        else setOwn(parent, last, structuredClone(op.value));
        break;
      }
      case "move": {
        if (op.from === op.path) {
          get(op.from);
          break;
        }
        const value = remove(op.from);
        add(op.path, value);
        break;
      }
      case "copy":
        add(op.path, structuredClone(get(op.from)));
        break;
      case "test": {
        const actual = get(op.path);
        if (!jsonEqual(actual, op.value)) {
          throw fail(`failed: ${quote(op.path)} is ${quote(actual)}, expected ${quote(op.value)}`);
        }
        break;
      }
    }
  });
  return root as T;
}
