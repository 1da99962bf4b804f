// Zod field types shared by the object schemas. Each validated string type checks with the
// validators in validate.ts (so messages quote the value) and then normalises in place
// (`overwrite`), which keeps the schema representable as plain JSON Schema for OpenAPI.

import { z } from "zod";
import { checkCidr, checkDuration, checkIPv4, checkMac, checkName, checkTime, checkUuid, quote, type Checked } from "../validate.ts";
import { parseOptionValue } from "./option-value.ts";
import type { ModelObject } from "../object.ts";
import type { Reference } from "../model-def.ts";

type Issue = { code: "custom"; message: string; input: unknown; path?: PropertyKey[] };

/** A string checked (and normalised) by a validator from validate.ts. */
export function checkedString(fn: (v: string) => Checked<string>, allowEmpty = false) {
  const apply = (v: string): Checked<string> => (allowEmpty && v === "" ? { ok: true, value: "" } : fn(v));
  return z
    .string()
    .check((ctx) => {
      const r = apply(ctx.value);
      if (!r.ok) ctx.issues.push({ code: "custom", message: r.error, input: ctx.value } satisfies Issue);
    })
    .overwrite((v) => {
      const r = apply(v);
      return r.ok ? r.value : v;
    });
}

export const zName = () => checkedString(checkName);
/** A reference to another object by name, or "" for none. */
export const zNameOrEmpty = () => checkedString(checkName, true);
export const zMac = () => checkedString(checkMac);
export const zIPv4 = () => checkedString(checkIPv4);
export const zIPv4OrEmpty = () => checkedString(checkIPv4, true);
export const zCidr = () => checkedString(checkCidr);
export const zUuid = () => checkedString(checkUuid);
export const zTime = () => checkedString(checkTime);

/** Whole seconds, 0..2^32-1. */
export const zDuration = () =>
  z
    .number()
    .check((ctx) => {
      const r = checkDuration(ctx.value);
      if (!r.ok) ctx.issues.push({ code: "custom", message: r.error, input: ctx.value } satisfies Issue);
    })
    .describe("Duration in whole seconds");

/** Free text: descriptions, boot parameters. */
export const zText = () => z.string();

/**
 * A list whose entries must be distinct (after normalisation). The duplicate check also runs
 * when some entries are invalid (`when`), so one response reports both kinds of problem.
 */
export function uniqueList<T extends z.ZodType<string>>(item: T, what: string) {
  return z.array(item).superRefine(
    (list, ctx) => {
      const seen = new Map<unknown, number>();
      list.forEach((v, i) => {
        if (typeof v !== "string") return;
        const first = seen.get(v);
        if (first !== undefined) ctx.addIssue({ code: "custom", message: `duplicate ${what} ${quote(v)} (also at [${first}])`, input: v, path: [i] });
        else seen.set(v, i);
      });
    },
    { when: (payload) => Array.isArray(payload.value) },
  );
}

export const zNameList = (what = "name") => uniqueList(zName(), what);

/** Parameter values keyed by Param name. */
export const zParams = () =>
  z.record(z.string(), z.unknown()).check((ctx) => {
    for (const k of Object.keys(ctx.value)) {
      const r = checkName(k);
      if (!r.ok) ctx.issues.push({ code: "custom", message: r.error.replace("invalid name", "invalid parameter name"), input: k, path: [k] } satisfies Issue);
    }
  });

/** DHCP options: code 1..254 (0 is padding, 255 ends the options) and the value as text. */
export const zDhcpOption = () =>
  z.strictObject({
    Code: z
      .number()
      .check((ctx) => {
        const c = ctx.value;
        if (!Number.isInteger(c) || c < 1 || c > 254) {
          ctx.issues.push({ code: "custom", message: `invalid DHCP option code ${quote(c)}: must be an integer from 1 to 254`, input: c } satisfies Issue);
        }
      })
      .describe("DHCP option code, 1..254"),
    Value: z
      .string()
      .check((ctx) => {
        const r = parseOptionValue(ctx.value);
        if (!r.ok) ctx.issues.push({ code: "custom", message: r.error, input: ctx.value } satisfies Issue);
      })
      .describe('Option value as text (addresses dotted, lists comma-separated); request fields as placeholders: "node-{{macHex}}", "{{hostname|macHex}}"'),
  });

export const zDhcpOptions = () =>
  z.array(zDhcpOption()).superRefine(
    (list, ctx) => {
      const seen = new Set<unknown>();
      list.forEach((o, i) => {
        const code = (o as { Code?: unknown } | null)?.Code;
        if (typeof code !== "number") return;
        if (seen.has(code)) ctx.addIssue({ code: "custom", message: `duplicate DHCP option code ${code}`, input: o, path: [i, "Code"] });
        seen.add(code);
      });
    },
    { when: (payload) => Array.isArray(payload.value) },
  );

/** The fields every object carries. Server-set ones are accepted on input and reset by prepare. */
export const META_SHAPE = {
  Validated: z.boolean().optional().describe("Set by the server: the object passed validation"),
  Available: z.boolean().optional().describe("Set by the server: the object and all it references are usable"),
  Errors: z.array(z.string()).optional().describe("Set by the server: why the object is not available"),
  ReadOnly: z.boolean().optional().describe("Set by the server: shipped content that cannot be changed"),
  Meta: z.record(z.string(), z.string()).default(() => ({})).describe("Free-form annotations (icon, color, title)"),
};

export const SERVER_SET_FIELDS = ["Validated", "Available", "Errors", "ReadOnly"] as const;

/** 24 random URL-safe characters (144 bits): machine and user secrets. */
export function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_");
}

/** Checks of a Templates list (boot environments, tasks): exactly one of ID and Contents, unique names. */
export function checkTemplateList(obj: ModelObject): string[] {
  const out: string[] = [];
  if (!Array.isArray(obj.Templates)) return out;
  const names = new Map<string, number>();
  obj.Templates.forEach((t, i) => {
    if (typeof t !== "object" || t === null) return;
    const tt = t as Record<string, unknown>;
    const hasID = tt.ID !== undefined;
    if (hasID === (tt.Contents !== undefined)) out.push(`Templates[${i}]: exactly one of ID and Contents must be set, got ${hasID ? "both" : "neither"}`);
    if (typeof tt.Name === "string") {
      const first = names.get(tt.Name);
      if (first !== undefined) out.push(`Templates[${i}].Name: duplicate template name ${quote(tt.Name)} (also at [${first}])`);
      else names.set(tt.Name, i);
    }
  });
  return out;
}

/** References from each string of the list `obj[field]` to an object of `type` ("Tasks[2]" -> tasks/x). */
export function listRefs(obj: ModelObject, field: string, type: string): Reference[] {
  const list = obj[field];
  if (!Array.isArray(list)) return [];
  return list.flatMap((key, i) => (typeof key === "string" ? [{ type, key, field: `${field}[${i}]` }] : []));
}

/** References from a Templates list (boot environments, tasks) to the Template objects it names by ID. */
export function templateRefs(obj: ModelObject): Reference[] {
  if (!Array.isArray(obj.Templates)) return [];
  return obj.Templates.flatMap((t, i) => {
    const id = (t as { ID?: unknown } | null)?.ID;
    return typeof id === "string" ? [{ type: "templates", key: id, field: `Templates[${i}].ID` }] : [];
  });
}
