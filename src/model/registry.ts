// Every object type, keyed by its API prefix / store type.

import type { IndexDef, ModelDef } from "./model-def.ts";
import type { ModelObject } from "./object.ts";
import { bootenvs } from "./schemas/bootenvs.ts";
import { leases } from "./schemas/leases.ts";
import { machines } from "./schemas/machines.ts";
import { params } from "./schemas/params.ts";
import { profiles } from "./schemas/profiles.ts";
import { reservations } from "./schemas/reservations.ts";
import { roles } from "./schemas/roles.ts";
import { subnets } from "./schemas/subnets.ts";
import { templates } from "./schemas/templates.ts";
import { users } from "./schemas/users.ts";
import { tasks } from "./schemas/tasks.ts";
import { stages } from "./schemas/stages.ts";
import { workflows } from "./schemas/workflows.ts";
import { jobs } from "./schemas/jobs.ts";
import { webhooks } from "./schemas/webhooks.ts";
import { checkIPv4, checkMac, quote } from "./validate.ts";

export { reservationProblems, subnetConflicts } from "./schemas/subnets.ts";

export const MODELS: Record<string, ModelDef> = Object.fromEntries(
  [machines, bootenvs, templates, params, profiles, subnets, reservations, leases, users, roles, tasks, stages, workflows, jobs, webhooks].map((d) => [d.prefix, d]),
);

export function modelFor(prefix: string): ModelDef | undefined {
  return Object.hasOwn(MODELS, prefix) ? MODELS[prefix] : undefined;
}

/** The comparable form of one index value, or undefined when it takes part in no uniqueness. */
export function indexValueKey(kind: IndexDef["kind"] | undefined, v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") return JSON.stringify(v);
  if (kind === "mac") {
    const r = checkMac(v);
    return r.ok ? r.value : v;
  }
  if (kind === "ip") {
    const r = checkIPv4(v);
    return r.ok ? r.value : v;
  }
  return v;
}

/** The comparable values of one field's value under its index (a list index: one per element). */
export function indexValuesOf(idx: IndexDef, v: unknown): string[] {
  const list = idx.kind === "list" ? (Array.isArray(v) ? v : []) : [v];
  const kind = idx.kind === "list" ? idx.element : idx.kind;
  return list.map((x) => indexValueKey(kind, x)).filter((x): x is string => x !== undefined);
}

/** The message for a unique value `v` of field `f` that the object under `key` holds already. */
export function uniqueClash(def: ModelDef, f: string, v: string, key: unknown): string {
  return `${f}: ${quote(v)} is already used by ${def.model} ${quote(key)}`;
}

/**
 * Unique-index collisions of `obj` with `others` (objects with the same key are skipped: that is
 * the object itself being updated). Empty values ("" Address) never collide; list indexes
 * (HardwareAddrs) collide on any shared element.
 */
export function uniqueConflicts(def: ModelDef, obj: ModelObject, others: Iterable<ModelObject>): string[] {
  const unique = Object.entries(def.indexes).filter(([f, idx]) => idx.unique && f !== def.key);
  if (unique.length === 0) return [];
  const mine = unique.map(([f, idx]) => [f, idx, new Set(indexValuesOf(idx, obj[f]))] as const);
  const out: string[] = [];
  for (const o of others) {
    if (o[def.key] === obj[def.key]) continue;
    for (const [f, idx, values] of mine) {
      if (values.size === 0) continue;
      for (const v of indexValuesOf(idx, o[f])) {
        if (values.has(v)) out.push(uniqueClash(def, f, v, o[def.key]));
      }
    }
  }
  return out;
}
