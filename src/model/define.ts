// Builds a ModelDef from a declarative spec: the strict zod shape, indexes, generated fields and
// cross-field checks. One `prepare` for every type, so every type reports problems the same way:
// all of them at once, each naming the field path and quoting the value.

import { z } from "zod";
import { invalid } from "./errors.ts";
import type { IndexDef, ModelDef, Reference } from "./model-def.ts";
import type { ModelObject } from "./object.ts";
import { META_SHAPE, SERVER_SET_FIELDS } from "./schemas/fields.ts";
import { quote } from "./validate.ts";

export interface ModelSpec {
  prefix: string;
  key: string;
  /** The type's own fields (the meta fields are added). */
  shape: Record<string, z.ZodType>;
  /** Indexes besides the key and the meta booleans (added automatically). */
  indexes?: Record<string, IndexDef>;
  writable?: boolean;
  secretFields?: string[];
  /** Fields generated when absent (kept from the existing object on update). */
  generated?: Record<string, () => unknown>;
  /**
   * Cross-field checks on the parsed object. Also called on the raw input when the shape check
   * failed, so checks must tolerate values of the wrong type (skip them). A check may normalise
   * a field that depends on another (lease Token by Strategy) on the object it is given.
   */
  check?: (obj: ModelObject) => string[];
  references?: (obj: ModelObject) => Reference[];
}

const META_INDEXES: Record<string, IndexDef> = {
  Validated: { unique: false, kind: "boolean" },
  Available: { unique: false, kind: "boolean" },
  ReadOnly: { unique: false, kind: "boolean" },
};

/** `HardwareAddrs[1]`, `OS.Name`, `Templates[0].ID`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else s += s === "" ? String(p) : `.${String(p)}`;
  }
  return s;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function describeType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** One readable message per zod issue, each naming the field and quoting the value. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], topFields?: readonly string[], secretFields: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const iss of issues) {
    const path = formatPath(iss.path);
    const at = (msg: string) => (path ? `${path}: ${msg}` : msg);
    // Secret values are never echoed (error bodies end up in logs).
    const secret = typeof iss.path[0] === "string" && secretFields.includes(iss.path[0]);
    const raw = (iss as { input?: unknown }).input;
    const input = secret && raw !== undefined ? "(hidden)" : raw;
    switch (iss.code) {
      case "unrecognized_keys":
        for (const k of iss.keys) {
          const where = path ? `${path}.${k}` : k;
          const hint = !path && topFields ? `; valid fields: ${topFields.join(", ")}` : "";
          out.push(`${where}: unknown field${hint}`);
        }
        break;
      case "invalid_type":
        out.push(at(input === undefined ? "is required" : `expected ${iss.expected}, got ${describeType(input)} ${quote(input)}`));
        break;
      case "invalid_value":
        out.push(at(`${quote(input)} is not one of ${iss.values.map((v) => quote(v)).join(", ")}`));
        break;
      case "custom":
        out.push(at(iss.message));
        break;
      case "too_small":
      case "too_big": {
        const limit = Number(iss.code === "too_small" ? iss.minimum : iss.maximum);
        if (iss.origin === "string" && iss.code === "too_small" && limit === 1) out.push(at("must not be empty"));
        else if (iss.origin === "string") out.push(at(`${quote(input)} is ${iss.code === "too_small" ? "shorter" : "longer"} than ${iss.code === "too_small" ? "the minimum" : "the maximum"} of ${limit} characters`));
        else out.push(at(`${quote(input)} is ${iss.code === "too_small" ? "below the minimum" : "above the maximum"} of ${limit}`));
        break;
      }
      default:
        out.push(at(`${iss.message} (got ${quote(input)})`));
    }
  }
  return out;
}

export function defineModel(spec: ModelSpec): ModelDef {
  const shape = { ...spec.shape, ...META_SHAPE };
  const schema = z.strictObject(shape);
  const topFields = Object.keys(shape);
  const indexes: Record<string, IndexDef> = { [spec.key]: { unique: true, kind: "string" }, ...spec.indexes, ...META_INDEXES };
  const secretFields = spec.secretFields ?? [];
  const generated = spec.generated ?? {};

  function prepare(input: unknown, existing?: ModelObject): ModelObject {
    const keyOf = (o: Record<string, unknown>) => (typeof o[spec.key] === "string" ? (o[spec.key] as string) : "");
    if (!isPlainObject(input)) {
      throw invalid(spec.prefix, existing ? keyOf(existing) : "", `expected a JSON object, got ${describeType(input)} ${quote(input)}`);
    }
    const obj: Record<string, unknown> = { ...input };
    for (const f of SERVER_SET_FIELDS) delete obj[f];
    if (existing) {
      // Secrets are never sent to clients, so a client's PUT cannot echo them back: keep them.
      for (const f of [spec.key, "Meta", ...Object.keys(generated), ...secretFields]) {
        if (obj[f] === undefined && existing[f] !== undefined) obj[f] = structuredClone(existing[f]);
      }
    }
    for (const [f, gen] of Object.entries(generated)) if (obj[f] === undefined) obj[f] = gen();

    const messages: string[] = [];
    const parsed = schema.safeParse(obj, { reportInput: true });
    let out: Record<string, unknown>;
    if (parsed.success) {
      out = parsed.data as Record<string, unknown>;
    } else {
      messages.push(...formatIssues(parsed.error.issues, topFields, secretFields));
      out = obj;
    }
    if (spec.check) messages.push(...spec.check(out));
    if (existing && existing[spec.key] !== undefined && out[spec.key] !== existing[spec.key]) {
      messages.push(`${spec.key}: may not change from ${quote(existing[spec.key])} to ${quote(out[spec.key])}`);
    }
    // The key the client sent (a generated Uuid would name nothing the client knows).
    const key = keyOf(input) || (existing ? keyOf(existing) : "");
    if (messages.length > 0) throw invalid(spec.prefix, key, messages);
    return { ...out, Validated: true, Available: true, Errors: [], ReadOnly: false };
  }

  return {
    prefix: spec.prefix,
    model: spec.prefix,
    key: spec.key,
    indexes,
    schema,
    writable: spec.writable ?? true,
    secretFields,
    prepare,
    references: spec.references ?? (() => []),
  };
}
