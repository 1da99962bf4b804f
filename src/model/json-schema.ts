// The small JSON-Schema subset that Param objects use to describe their values:
// type (one or a list of string, number, integer, boolean, object, array, null), enum, const,
// minimum, maximum, minLength, maxLength, pattern, items, properties, required and
// additionalProperties. Other keywords (title, description, format, ...) are annotations and
// are ignored, as a JSON-Schema validator ignores unknown keywords.

import { compileRegex, type LinearRegex, RegexError } from "./linear-regex.ts";
import { quote } from "./validate.ts";

const TYPES = ["string", "number", "integer", "boolean", "object", "array", "null"] as const;
type JsonType = (typeof TYPES)[number];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function typeOf(v: unknown): JsonType | "unknown" {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  switch (typeof v) {
    case "string":
      return "string";
    case "boolean":
      return "boolean";
    case "number":
      return Number.isFinite(v) ? (Number.isInteger(v) ? "integer" : "number") : "unknown";
    case "object":
      return "object";
    default:
      return "unknown";
  }
}

function at(path: string, msg: string): string {
  return path ? `${path}: ${msg}` : msg;
}

/** Deep equality of JSON values (object key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => Object.hasOwn(bo, k) && jsonEqual(ao[k], bo[k]));
}

// `pattern` runs on values that machines write about themselves (the inventory param, written
// with a machine or registration token), so it uses the linear-time engine, not RegExp: an
// innocent-looking `^([a-z0-9]+ ?)*$` would otherwise backtrack for seconds on a crafted value.
const regexCache = new Map<string, LinearRegex | RegexError>();
function compile(pattern: string): LinearRegex | RegexError {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = compileRegex(pattern);
    } catch (e) {
      if (!(e instanceof RegexError)) throw e;
      re = e;
    }
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re;
}

function patternProblem(pattern: string, e: RegexError): string {
  return `${e.kind === "syntax" ? "invalid" : "unsupported"} regular expression ${quote(pattern)}: ${e.message}`;
}

/**
 * Problems with a schema itself (wrong keyword types, unknown type names, bad patterns).
 * Returns [] for a usable schema.
 */
export function checkSchemaShape(schema: unknown, path = "Schema"): string[] {
  if (!isObject(schema)) return [at(path, `expected a JSON-Schema object, got ${quote(schema)}`)];
  const out: string[] = [];
  const t = schema.type;
  if (t !== undefined) {
    const list = Array.isArray(t) ? t : [t];
    if (list.length === 0) out.push(at(`${path}.type`, "must not be an empty list"));
    for (const x of list) {
      if (typeof x !== "string" || !(TYPES as readonly string[]).includes(x)) {
        out.push(at(`${path}.type`, `unsupported type ${quote(x)}; supported: ${TYPES.join(", ")}`));
      }
    }
  }
  if (schema.enum !== undefined && !Array.isArray(schema.enum)) out.push(at(`${path}.enum`, `expected an array, got ${quote(schema.enum)}`));
  for (const k of ["minimum", "maximum"]) {
    const v = schema[k];
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v))) out.push(at(`${path}.${k}`, `expected a number, got ${quote(v)}`));
  }
  for (const k of ["minLength", "maxLength"]) {
    const v = schema[k];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < 0)) {
      out.push(at(`${path}.${k}`, `expected a non-negative integer, got ${quote(v)}`));
    }
  }
  if (schema.pattern !== undefined) {
    if (typeof schema.pattern !== "string") out.push(at(`${path}.pattern`, `expected a string, got ${quote(schema.pattern)}`));
    else {
      const re = compile(schema.pattern);
      if (re instanceof RegexError) out.push(at(`${path}.pattern`, patternProblem(schema.pattern, re)));
    }
  }
  if (schema.items !== undefined) out.push(...checkSchemaShape(schema.items, `${path}.items`));
  if (schema.properties !== undefined) {
    if (!isObject(schema.properties)) out.push(at(`${path}.properties`, `expected an object, got ${quote(schema.properties)}`));
    else for (const [k, v] of Object.entries(schema.properties)) out.push(...checkSchemaShape(v, `${path}.properties.${k}`));
  }
  if (schema.required !== undefined) {
    if (!Array.isArray(schema.required) || !schema.required.every((x) => typeof x === "string")) {
      out.push(at(`${path}.required`, `expected an array of strings, got ${quote(schema.required)}`));
    }
  }
  const ap = schema.additionalProperties;
  if (ap !== undefined && typeof ap !== "boolean") out.push(...checkSchemaShape(ap, `${path}.additionalProperties`));
  return out;
}

/**
 * Check `value` against `schema` (the subset above). Returns one message per problem, each
 * prefixed with `path` (e.g. `Params.ntp-servers[1]`) and quoting the offending value.
 * A malformed schema keyword is skipped here; checkSchemaShape reports it (except `pattern`,
 * which fails closed).
 */
export function checkJsonSchema(schema: unknown, value: unknown, path = ""): string[] {
  if (!isObject(schema)) return [];
  const out: string[] = [];
  const actual = typeOf(value);
  const t = schema.type;
  if (t !== undefined) {
    const list = (Array.isArray(t) ? t : [t]).filter((x): x is string => typeof x === "string");
    const fits = list.some((x) => x === actual || (x === "number" && actual === "integer"));
    if (list.length > 0 && !fits) {
      out.push(at(path, `expected ${list.join(" or ")}, got ${quote(value)}`));
      return out; // further keywords would only repeat the type mismatch
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => jsonEqual(e, value))) {
    out.push(at(path, `${quote(value)} is not one of ${schema.enum.map((e) => quote(e)).join(", ")}`));
  }
  if (schema.const !== undefined && !jsonEqual(schema.const, value)) {
    out.push(at(path, `${quote(value)} is not ${quote(schema.const)}`));
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) out.push(at(path, `${value} is less than the minimum ${schema.minimum}`));
    if (typeof schema.maximum === "number" && value > schema.maximum) out.push(at(path, `${value} is greater than the maximum ${schema.maximum}`));
  }
  if (typeof value === "string") {
    const len = [...value].length;
    if (typeof schema.minLength === "number" && len < schema.minLength) out.push(at(path, `${quote(value)} is shorter than ${schema.minLength} characters`));
    if (typeof schema.maxLength === "number" && len > schema.maxLength) out.push(at(path, `${quote(value)} is longer than ${schema.maxLength} characters`));
    if (typeof schema.pattern === "string") {
      const re = compile(schema.pattern);
      // A stored schema whose pattern this engine refuses (written before it existed) fails
      // closed: a pattern is often the guard that keeps a value out of a script.
      if (re instanceof RegexError) out.push(at(path, `cannot check ${quote(value)}: ${patternProblem(schema.pattern, re)}`));
      else if (!re.test(value)) out.push(at(path, `${quote(value)} does not match pattern ${quote(schema.pattern)}`));
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((v, i) => out.push(...checkJsonSchema(schema.items, v, `${path}[${i}]`)));
  }
  if (isObject(value)) {
    const props = isObject(schema.properties) ? schema.properties : {};
    if (Array.isArray(schema.required)) {
      for (const r of schema.required) {
        if (typeof r === "string" && !Object.hasOwn(value, r)) out.push(at(path, `missing required property ${quote(r)}`));
      }
    }
    for (const [k, v] of Object.entries(value)) {
      const sub = `${path}.${k}`;
      if (Object.hasOwn(props, k)) out.push(...checkJsonSchema(props[k], v, sub));
      else if (schema.additionalProperties === false) out.push(at(path, `unexpected property ${quote(k)}`));
      else if (isObject(schema.additionalProperties)) out.push(...checkJsonSchema(schema.additionalProperties, v, sub));
    }
  }
  return out;
}
