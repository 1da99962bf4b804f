// DRP list filters: `?Name=n1&Address=Between(198.51.100.1,198.51.100.9)&sort=Name&limit=10`.
// A query is parsed once into a compiled predicate; comparison is typed by the index kind, so
// addresses compare numerically, MACs in any notation, list fields match on any element.

import { badRequest } from "./errors.ts";
import { compileRegex, type LinearRegex, RegexError } from "./linear-regex.ts";
import type { IndexDef, ModelDef } from "./model-def.ts";
import type { ModelObject } from "./object.ts";
import { checkIPv4, checkMac, ipIntOf, ipToInt, quote } from "./validate.ts";

export const OPS = ["Eq", "Ne", "Lt", "Lte", "Gt", "Gte", "Re", "In", "Nin", "Between"] as const;
export type Op = (typeof OPS)[number];

/** Parameters that shape the result rather than filter it. */
export const RESERVED_PARAMS = ["sort", "reverse", "limit", "offset", "aggregate", "slim", "params", "decode"] as const;
const PASSTHROUGH = new Set(["aggregate", "slim", "params", "decode"]);

/** Longest regular expression accepted in `Re(...)`. */
const MAX_REGEX = 512;
/**
 * Work one `Re(...)` filter may spend over one list (NFA states visited building its DFA; see
 * linear-regex.ts): about 0.3 s at worst. Patterns run in linear time whatever they say, but a
 * pattern whose DFA is exponential, like `(a|b)*a(a|b){20}c`, pays its program size per character,
 * and over 10,000 machines that is still seconds. Ordinary patterns reuse their DFA states and
 * spend a few thousand.
 */
const MAX_REGEX_WORK = 20_000_000;

export interface Filter {
  field: string;
  op: Op;
  args: string[];
}

export interface Query {
  filters: Filter[];
  sort: string[];
  reverse: boolean;
  limit?: number;
  offset: number;
  /** aggregate, slim, params, decode: for the API layer, not interpreted here. */
  passthrough: Record<string, string>;
  /** The compiled filters. */
  match: (obj: ModelObject) => boolean;
  /** The compiled sort keys of an object (undefined: keep input order). */
  sortKey?: (obj: ModelObject) => SortKey;
}

type Scalar = number | string | boolean;
/** Comparable values of an object's sort fields, in `sort` order. */
export type SortKey = unknown[];
type ElemKind = NonNullable<IndexDef["element"]>;

/** Empty addresses and missing values sort first and compare below everything. */
const NONE = Symbol("none");
type Value = Scalar | typeof NONE;

function elemKind(idx: IndexDef): ElemKind {
  return idx.kind === "list" ? (idx.element ?? "string") : idx.kind;
}

const CANONICAL_MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Stored value -> comparable scalar. Never throws: stored data that does not parse is compared as text. */
function fromStored(kind: ElemKind, v: unknown): Value {
  if (v === undefined || v === null) return NONE;
  switch (kind) {
    case "ip": {
      if (v === "") return NONE;
      return (typeof v === "string" ? ipIntOf(v) : undefined) ?? String(v);
    }
    case "mac": {
      if (typeof v === "string" && CANONICAL_MAC.test(v)) return v;
      const r = typeof v === "string" ? checkMac(v) : undefined;
      return r?.ok ? r.value : String(v).toLowerCase();
    }
    case "time": {
      const t = typeof v === "string" ? Date.parse(v) : Number.NaN;
      return Number.isNaN(t) ? NONE : t;
    }
    case "number":
      return typeof v === "number" ? v : Number.isNaN(Number(v)) ? NONE : Number(v);
    case "boolean":
      return typeof v === "boolean" ? v : v === "true";
    default:
      return typeof v === "string" ? v : JSON.stringify(v);
  }
}

/** Filter argument -> comparable scalar; a malformed argument is a BadRequest quoting it. */
function fromArg(model: string, field: string, kind: ElemKind, a: string): Value {
  const bad = (why: string) => badRequest(model, "", `filter ${field}: ${why}`);
  switch (kind) {
    case "ip": {
      if (a === "") return NONE;
      const r = checkIPv4(a);
      if (!r.ok) throw bad(r.error);
      return ipToInt(r.value);
    }
    case "mac": {
      const r = checkMac(a);
      if (!r.ok) throw bad(r.error);
      return r.value;
    }
    case "time": {
      const t = Date.parse(a);
      if (Number.isNaN(t)) throw bad(`invalid time ${quote(a)}`);
      return t;
    }
    case "number": {
      const n = a.trim() === "" ? Number.NaN : Number(a);
      if (Number.isNaN(n)) throw bad(`invalid number ${quote(a)}`);
      return n;
    }
    case "boolean":
      if (a !== "true" && a !== "false") throw bad(`invalid boolean ${quote(a)}: expected "true" or "false"`);
      return a === "true";
    default:
      return a;
  }
}

function cmp(a: Value, b: Value): number {
  if (a === b) return 0;
  if (a === NONE) return -1;
  if (b === NONE) return 1;
  if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
  // Mixed types only arise from stored data that did not parse: order by type name, then text.
  const ta = typeof a;
  const tb = typeof b;
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

/** Display form of a value for regular expressions: what the API shows. */
function displayOf(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

type ElemTest = (stored: unknown) => boolean;

function compileFilter(def: ModelDef, f: Filter): (obj: ModelObject) => boolean {
  const idx = def.indexes[f.field] as IndexDef;
  const kind = elemKind(idx);
  const want = (n: number) => {
    if (f.args.length !== n) {
      throw badRequest(def.model, "", `filter ${f.field}: ${f.op} takes ${n} argument${n === 1 ? "" : "s"}, got ${f.args.length} in ${quote(`${f.op}(${f.args.join(",")})`)}`);
    }
  };
  const arg = (a: string) => fromArg(def.model, f.field, kind, a);
  let test: ElemTest;
  let negate = false;
  switch (f.op) {
    case "Eq":
    case "Ne": {
      want(1);
      const v = arg(f.args[0] as string);
      test = (s) => cmp(fromStored(kind, s), v) === 0;
      negate = f.op === "Ne";
      break;
    }
    case "Lt":
    case "Lte":
    case "Gt":
    case "Gte": {
      want(1);
      const v = arg(f.args[0] as string);
      const op = f.op;
      test = (s) => {
        const x = fromStored(kind, s);
        if (x === NONE || v === NONE) return false;
        const c = cmp(x, v);
        return op === "Lt" ? c < 0 : op === "Lte" ? c <= 0 : op === "Gt" ? c > 0 : c >= 0;
      };
      break;
    }
    case "Between": {
      want(2);
      const lo = arg(f.args[0] as string);
      const hi = arg(f.args[1] as string);
      test = (s) => {
        const x = fromStored(kind, s);
        return x !== NONE && cmp(x, lo) >= 0 && cmp(x, hi) <= 0;
      };
      break;
    }
    case "In":
    case "Nin": {
      if (f.args.length === 0) throw badRequest(def.model, "", `filter ${f.field}: ${f.op} needs at least one value`);
      const vs = f.args.map(arg);
      test = (s) => {
        const x = fromStored(kind, s);
        return vs.some((v) => cmp(x, v) === 0);
      };
      negate = f.op === "Nin";
      break;
    }
    case "Re": {
      want(1);
      const src = f.args[0] as string;
      if (src.length > MAX_REGEX) throw badRequest(def.model, "", `filter ${f.field}: regular expression is ${src.length} characters long, at most ${MAX_REGEX} allowed`);
      // Not RegExp: its backtracking let one filter like `(a+)+$` hold the process for seconds.
      let re: LinearRegex;
      try {
        re = compileRegex(src, { maxWork: MAX_REGEX_WORK });
      } catch (e) {
        if (!(e instanceof RegexError)) throw e;
        const what = e.kind === "syntax" ? "invalid" : "unsupported";
        throw badRequest(def.model, "", `filter ${f.field}: ${what} regular expression ${quote(src)}: ${e.message}`);
      }
      test = (s) => {
        try {
          return re.test(displayOf(s));
        } catch (e) {
          if (!(e instanceof RegexError)) throw e;
          throw badRequest(def.model, "", `filter ${f.field}: regular expression ${quote(src)} is too expensive for this list: ${e.message}`);
        }
      };
      break;
    }
  }
  const field = f.field;
  // List fields match when any element matches; Ne and Nin then mean "no element matches".
  const matchOne = idx.kind === "list" ? (v: unknown) => Array.isArray(v) && v.some(test) : test;
  return negate ? (obj) => !matchOne(obj[field]) : (obj) => matchOne(obj[field]);
}

const OP_SYNTAX = /^([A-Z][A-Za-z]*)\(([\s\S]*)\)$/;

function parseFilter(def: ModelDef, field: string, raw: string): Filter {
  if (!Object.hasOwn(def.indexes, field)) {
    throw badRequest(def.model, "", `cannot filter on ${quote(field)}: not an index of ${def.model}; valid fields: ${Object.keys(def.indexes).join(", ")}`);
  }
  const m = OP_SYNTAX.exec(raw);
  if (!m) return { field, op: "Eq", args: [raw] };
  const op = m[1] as string;
  if (!(OPS as readonly string[]).includes(op)) {
    throw badRequest(def.model, "", `filter ${field}: unknown operator ${quote(op)} in ${quote(raw)}; valid: ${OPS.join(", ")}`);
  }
  const inner = m[2] as string;
  const args = op === "Re" || op === "Eq" || op === "Ne" ? [inner] : inner === "" ? [] : inner.split(",");
  return { field, op: op as Op, args };
}

function parseCount(model: string, name: string, raw: string): number {
  if (!/^[0-9]{1,9}$/.test(raw)) throw badRequest(model, "", `invalid ${name} ${quote(raw)}: expected a whole number from 0 to 999999999`);
  return Number(raw);
}

function compileSort(def: ModelDef, fields: string[]): (obj: ModelObject) => SortKey {
  const keys = fields.map((f) => {
    const idx = def.indexes[f] as IndexDef;
    const kind = elemKind(idx);
    const list = idx.kind === "list";
    // A list sorts by its first element.
    return (o: ModelObject) => fromStored(kind, list ? (Array.isArray(o[f]) ? o[f][0] : undefined) : o[f]);
  });
  return (o) => keys.map((k) => k(o));
}

function compareKeys(a: SortKey, b: SortKey): number {
  for (let i = 0; i < a.length; i++) {
    const c = cmp(a[i] as Value, b[i] as Value);
    if (c !== 0) return c;
  }
  return 0;
}

/** Parse list parameters against a type's indexes. Throws BadRequest quoting what is wrong. */
export function parseQuery(def: ModelDef, params: URLSearchParams): Query {
  const filters: Filter[] = [];
  const sort: string[] = [];
  const passthrough: Record<string, string> = {};
  let reverse = false;
  let limit: number | undefined;
  let offset = 0;
  for (const [name, raw] of params) {
    switch (name) {
      case "sort":
        if (!Object.hasOwn(def.indexes, raw)) {
          throw badRequest(def.model, "", `cannot sort on ${quote(raw)}: not an index of ${def.model}; valid fields: ${Object.keys(def.indexes).join(", ")}`);
        }
        sort.push(raw);
        break;
      case "reverse":
        if (raw !== "true" && raw !== "false" && raw !== "") throw badRequest(def.model, "", `invalid reverse ${quote(raw)}: expected "true" or "false"`);
        reverse = raw !== "false";
        break;
      case "limit":
        limit = parseCount(def.model, "limit", raw);
        break;
      case "offset":
        offset = parseCount(def.model, "offset", raw);
        break;
      default:
        if (PASSTHROUGH.has(name)) passthrough[name] = raw;
        else filters.push(parseFilter(def, name, raw));
    }
  }
  const preds = filters.map((f) => compileFilter(def, f));
  const match = preds.length === 0 ? () => true : preds.length === 1 ? (preds[0] as (o: ModelObject) => boolean) : (o: ModelObject) => preds.every((p) => p(o));
  const q: Query = { filters, sort, reverse, offset, passthrough, match };
  if (limit !== undefined) q.limit = limit;
  if (sort.length > 0) q.sortKey = compileSort(def, sort);
  return q;
}

/** Filter, sort, then page. `total` counts matches before offset and limit. */
export function runQuery(objs: ModelObject[], q: Query): { items: ModelObject[]; total: number } {
  let items = objs.filter(q.match);
  if (q.sortKey) {
    // Compute each object's keys once, not once per comparison. The sort is stable: ties keep
    // store order.
    const keyOf = q.sortKey;
    const decorated = items.map((o) => ({ o, k: keyOf(o) }));
    decorated.sort((a, b) => compareKeys(a.k, b.k));
    items = decorated.map((d) => d.o);
  }
  if (q.reverse) items.reverse();
  const total = items.length;
  const end = q.limit === undefined ? undefined : q.offset + q.limit;
  if (q.offset > 0 || end !== undefined) items = items.slice(q.offset, end);
  return { items, total };
}
