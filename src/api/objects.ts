// The object service: every API write goes through here. It joins the pure model rules
// (schemas, references, uniqueness, overlap) with the store, so the routes stay thin.
//
// Writes are validated and handed to the store in the same synchronous step; objects whose
// write is still waiting for fsync are kept in `inflight`, so two concurrent creates of the same
// Name cannot both pass the uniqueness check.

import type { Store } from "../store/store.ts";
import type { ModelDef, Reference } from "../model/model-def.ts";
import type { ModelObject } from "../model/object.ts";
import { SocleError, conflict, invalid, notFound } from "../model/errors.ts";
import { profileCycle, validateParamValues } from "../model/params.ts";
import { MODELS, modelFor } from "../model/registry.ts";
import { uniqueConflicts, subnetConflicts, reservationProblems } from "../model/registry.ts";
import { applyPatch } from "../model/json-patch.ts";
import { parseQuery, runQuery } from "../model/query.ts";
import { UNDELETABLE } from "../content/builtins.ts";
import { checkTemplate } from "../render/compile.ts";

export interface ListResult {
  items: ModelObject[];
  total: number;
}

/**
 * A status known only when an object is read (a BootEnv's files on disk), merged into copies of
 * the stored objects; made per request (src/api/boot-file-status.ts).
 */
export interface ReadView {
  /** Fields the view sets: a query that filters or sorts on one must see the view first. */
  readonly fields: readonly string[];
  apply(objs: readonly ModelObject[]): Promise<ModelObject[]>;
}

/**
 * A check of one write against the object it changes, run after the write is applied and before
 * it is stored, in the same synchronous step (so `current` is what the write replaces). Throws to
 * refuse the write. The routes pass one for principals limited to some fields (machine-scope.ts).
 */
export type WriteGuard = (next: ModelObject, current: ModelObject) => void;

export class ObjectService {
  private readonly inflight = new Map<string, Map<string, { obj: ModelObject | null }>>();

  constructor(readonly store: Store) {}

  def(prefix: string): ModelDef {
    const def = modelFor(prefix);
    if (!def) throw notFound("types", prefix);
    return def;
  }

  /**
   * The objects a list query selects, seen through `view` when given. The view costs I/O, so it is
   * applied to the page returned only, unless the query filters or sorts on a field it sets.
   */
  async list(prefix: string, params: URLSearchParams, view?: ReadView): Promise<ListResult> {
    const def = this.def(prefix);
    const query = parseQuery(def, params);
    const all = this.store.list(prefix);
    if (view === undefined) return runQuery(all, query);
    const fields = new Set(view.fields);
    if (query.filters.some((f) => fields.has(f.field)) || query.sort.some((f) => fields.has(f))) {
      return runQuery(await view.apply(all), query);
    }
    const { items, total } = runQuery(all, query);
    return { items: await view.apply(items), total };
  }

  /** Look an object up by key or by `Index:value` (a unique index, or the only match). */
  find(prefix: string, ref: string): ModelObject | undefined {
    const def = this.def(prefix);
    const direct = this.store.get(prefix, ref);
    if (direct) return direct;
    const colon = ref.indexOf(":");
    if (colon <= 0) return undefined;
    const field = ref.slice(0, colon);
    const value = ref.slice(colon + 1);
    if (!def.indexes[field]) return undefined;
    const params = new URLSearchParams();
    params.set(field, `Eq(${value})`);
    const { items } = runQuery(this.store.list(prefix), parseQuery(def, params));
    if (items.length > 1) {
      throw conflict(def.model, ref, `${items.length} ${def.model} match ${field} "${value}"; use a unique index`);
    }
    return items[0];
  }

  get(prefix: string, ref: string): ModelObject {
    const obj = this.find(prefix, ref);
    if (!obj) throw notFound(this.def(prefix).model, ref);
    return obj;
  }

  keyOf(prefix: string, obj: ModelObject): string {
    return String(obj[this.def(prefix).key]);
  }

  async create(prefix: string, input: unknown): Promise<ModelObject> {
    const def = this.writableDef(prefix);
    const obj = def.prepare(input);
    const key = String(obj[def.key]);
    if (this.current(prefix, key) !== undefined) {
      throw conflict(def.model, key, `${def.model} "${key}" already exists`);
    }
    return this.commit(def, key, obj);
  }

  /** Replace the object; `guard` sees the prepared object and the stored one. */
  async replace(prefix: string, ref: string, input: unknown, guard?: WriteGuard): Promise<ModelObject> {
    const def = this.writableDef(prefix);
    const existing = this.get(prefix, ref);
    const key = String(existing[def.key]);
    this.assertWritable(def, key, existing);
    const obj = def.prepare(input, existing);
    guard?.(obj, existing);
    return this.commit(def, key, obj);
  }

  /**
   * Apply a JSON Patch to the object as the client sees it: secrets removed and, when given, the
   * read-time `status` (Available, Errors) in place, so that a `test` op compares with what the
   * client read. Status fields are set by the server, so whatever the patch does to them is dropped.
   * `guard` sees the patched document and the one the patch applied to, both as the client sees
   * them (before secrets are carried over and before validation), so a patch that writes a
   * secret field is seen writing it.
   */
  async patch(prefix: string, ref: string, ops: unknown, status?: ModelObject, guard?: WriteGuard): Promise<ModelObject> {
    const def = this.writableDef(prefix);
    const existing = this.get(prefix, ref);
    const key = String(existing[def.key]);
    this.assertWritable(def, key, existing);
    const visible = status === undefined ? this.redact(def, existing) : { ...this.redact(def, existing), ...status };
    const patched = applyPatch(visible, ops, { model: def.model, key });
    guard?.(patched as ModelObject, visible);
    // Secret fields are invisible to clients, so they are carried over from the stored object.
    const restored: ModelObject = { ...(patched as ModelObject) };
    for (const f of def.secretFields) if (existing[f] !== undefined) restored[f] = existing[f];
    const obj = def.prepare(restored, existing);
    return this.commit(def, key, obj);
  }

  async remove(prefix: string, ref: string): Promise<ModelObject> {
    // Read-only types may still be deleted: an operator frees a stuck lease this way.
    const def = this.def(prefix);
    const existing = this.get(prefix, ref);
    const key = String(existing[def.key]);
    this.assertWritable(def, key, existing);
    if (UNDELETABLE.has(`${prefix}/${key}`)) throw conflict(def.model, key, `${def.model} "${key}" is built in and cannot be deleted`);
    const users = this.referrers(prefix, key);
    if (users.length > 0) {
      throw conflict(def.model, key, [
        `${def.model} "${key}" is in use by ${users.slice(0, 10).join(", ")}${users.length > 10 ? ` and ${users.length - 10} more` : ""}`,
      ]);
    }
    const mark = this.setInflight(prefix, key, null);
    try {
      const change = await this.store.delete(prefix, key);
      return change.Object;
    } finally {
      this.clearInflight(prefix, key, mark);
    }
  }

  /** Store a prepared object without the API-level checks (bootstrap, internal updates). */
  async save(prefix: string, obj: ModelObject): Promise<ModelObject> {
    const def = this.def(prefix);
    return this.commit(def, String(obj[def.key]), obj);
  }

  /** The object as a client may see it: secret fields removed. */
  redact(def: ModelDef, obj: ModelObject): ModelObject {
    if (def.secretFields.length === 0) return obj;
    const out: ModelObject = {};
    for (const [k, v] of Object.entries(obj)) if (!def.secretFields.includes(k)) out[k] = v;
    return out;
  }

  /** "machines/<uuid>" for every object that refers to (prefix, key). */
  referrers(prefix: string, key: string): string[] {
    const out: string[] = [];
    for (const def of Object.values(MODELS)) {
      for (const obj of this.store.list(def.prefix)) {
        for (const ref of def.references(obj)) {
          if (ref.type === prefix && ref.key === key) {
            out.push(`${def.prefix}/${String(obj[def.key])}`);
            break;
          }
        }
      }
    }
    return out;
  }

  private writableDef(prefix: string): ModelDef {
    const def = this.def(prefix);
    if (!def.writable) {
      throw new SocleError("Forbidden", def.model, "", `${def.model} are read-only through the API`);
    }
    return def;
  }

  private assertWritable(def: ModelDef, key: string, obj: ModelObject): void {
    if (obj.ReadOnly === true) {
      throw conflict(def.model, key, `${def.model} "${key}" is read-only (shipped content)`);
    }
  }

  /** The object under key, counting writes still in flight (null = being deleted). */
  private current(prefix: string, key: string): ModelObject | undefined {
    const pending = this.inflight.get(prefix)?.get(key);
    if (pending) return pending.obj ?? undefined;
    return this.store.get(prefix, key);
  }

  private others(prefix: string, key: string): ModelObject[] {
    const pending = this.inflight.get(prefix);
    const out: ModelObject[] = [];
    for (const o of this.store.list(prefix)) {
      const k = String(o[this.def(prefix).key]);
      if (k === key || pending?.has(k)) continue;
      out.push(o);
    }
    if (pending) for (const [k, mark] of pending) if (k !== key && mark.obj) out.push(mark.obj);
    return out;
  }

  private async commit(def: ModelDef, key: string, obj: ModelObject): Promise<ModelObject> {
    const others = this.others(def.prefix, key);
    const problems = uniqueConflicts(def, obj, others);
    if (def.prefix === "subnets") problems.push(...subnetConflicts(obj, others));
    if (def.prefix === "reservations") problems.push(...reservationProblems(obj, this.store.list("subnets")));
    if (problems.length > 0) throw conflict(def.model, key, problems);
    if (def.prefix === "machines" || def.prefix === "profiles") {
      const bad = validateParamValues((obj.Params ?? {}) as Record<string, unknown>, (n) => this.store.get("params", n));
      if (def.prefix === "profiles") {
        const cycle = profileCycle(obj, (n) => (n === key ? obj : this.current("profiles", n)));
        if (cycle) bad.push(cycle);
      }
      if (bad.length > 0) throw invalid(def.model, key, bad);
    }
    // Templates compile on save: a bad one is refused (422, with its line), never stored.
    if (def.prefix === "templates" || def.prefix === "bootenvs") {
      const bad = templateProblems(def.prefix, key, obj);
      if (bad.length > 0) throw invalid(def.model, key, bad);
    }
    const annotated = this.annotate(def, obj);
    const mark = this.setInflight(def.prefix, key, annotated);
    try {
      await this.store.put(def.prefix, key, annotated);
    } finally {
      this.clearInflight(def.prefix, key, mark);
    }
    return annotated;
  }

  /** Fill Validated/Available/Errors from the object's references. */
  private annotate(def: ModelDef, obj: ModelObject): ModelObject {
    const errors: string[] = Array.isArray(obj.Errors) ? [...(obj.Errors as string[])] : [];
    for (const ref of def.references(obj)) {
      if (!this.current(ref.type, ref.key)) errors.push(missingRef(ref));
    }
    return { ...obj, Validated: true, Available: errors.length === 0, Errors: errors };
  }

  /** Record a write in flight; the returned mark clears it only if no later write replaced it. */
  private setInflight(prefix: string, key: string, obj: ModelObject | null): { obj: ModelObject | null } {
    let m = this.inflight.get(prefix);
    if (!m) this.inflight.set(prefix, (m = new Map()));
    const mark = { obj };
    m.set(key, mark);
    return mark;
  }

  private clearInflight(prefix: string, key: string, mark: { obj: ModelObject | null }): void {
    const m = this.inflight.get(prefix);
    if (m?.get(key) === mark) m.delete(key);
    if (m && m.size === 0) this.inflight.delete(prefix);
  }
}

function missingRef(ref: Reference): string {
  return `${ref.field}: ${ref.type.replace(/s$/, "")} "${ref.key}" does not exist`;
}

/** Compile errors of a Template's Contents, or of a BootEnv's BootParams, paths and inline templates. */
function templateProblems(prefix: string, key: string, obj: ModelObject): string[] {
  const out: string[] = [];
  const check = (field: string, name: string, text: unknown) => {
    if (typeof text !== "string") return;
    const err = checkTemplate(name, text);
    if (err) out.push(`${field}: ${err}`);
  };
  if (prefix === "templates") {
    check("Contents", key, obj.Contents);
    return out;
  }
  check("BootParams", `${key}/BootParams`, obj.BootParams);
  const list = Array.isArray(obj.Templates) ? (obj.Templates as Array<Record<string, unknown>>) : [];
  list.forEach((t, i) => {
    check(`Templates[${i}].Path`, `${key}/${String(t.Name)}/Path`, t.Path);
    check(`Templates[${i}].Contents`, `${key}/${String(t.Name)}`, t.Contents);
  });
  return out;
}
