// The object service: every API write goes through here. It joins the pure model rules
// (schemas, references, uniqueness, overlap, and the per-type rules of object-checks.ts) with the
// store, so the routes stay thin.
//
// Writes are validated and handed to the store in the same synchronous step; objects whose
// write is still waiting for fsync are kept in `inflight`, so two concurrent creates of the same
// Name cannot both pass the uniqueness check.
//
// Secure params (model/secure-params.ts) of machines and profiles: every write seals the values
// of Secure params before the store sees them, so no journal line or snapshot holds one in clear.
// A client that may not see a value in clear (no getSecure) reads SECURE_MARKER in its place;
// a write that sends the marker back, or (with getSecure) the value it read, keeps the stored
// envelope, so a PUT of what was read and a JSON Patch that leaves the value alone change nothing.
// When a Param becomes Secure, the values already stored in clear are sealed at once (and at
// start, for data written before); turning Secure off opens nothing: sealed values stay sealed
// and redacted until they are set again.

import type { Store } from "../store/store.ts";
import type { ModelDef, Reference } from "../model/model-def.ts";
import type { ModelObject } from "../model/object.ts";
import { SocleError, conflict, invalid, notFound } from "../model/errors.ts";
import { MODELS, modelFor } from "../model/registry.ts";
import { uniqueConflicts, subnetConflicts, reservationProblems } from "../model/registry.ts";
import { UniqueIndex } from "../model/unique-index.ts";
import { applyPatch } from "../model/json-patch.ts";
import { parseQuery, runQuery } from "../model/query.ts";
import { UNDELETABLE } from "../content/builtins.ts";
import type { WorkflowLookup } from "../jobs/expand.ts";
import { typeProblems } from "./object-checks.ts";
import { machineTransition, type Actor } from "../jobs/machine-transition.ts";
import {
  ENVELOPE_FIELD,
  PARAM_OWNER_TYPES,
  isEnvelope,
  isMarker,
  isSecureParamDef,
  sameAsStored,
  shownValue,
  type ParamCipher,
  type ParamOwner,
} from "../model/secure-params.ts";

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

/**
 * Whether the reader may see the secure values held by the object (type, key) in clear: the
 * getSecure claim on it (api/access.ts secureAccess). Objects that hold no params ignore it.
 */
export type SecureAccess = (type: string, key: string) => boolean;

/** No secure value in clear: the default of every view. */
export const NO_SECURE_ACCESS: SecureAccess = () => false;

export interface ObjectServiceOptions {
  /**
   * Seals and opens secure values. Without it (tests that need none), a write that would store a
   * secure value is refused (503) rather than stored in clear.
   */
  cipher?: ParamCipher;
  /**
   * Rewrites the store's files from its current state (FileStore.compact): run after values stored
   * in clear were sealed, so the journal segments that held them are removed.
   */
  compact?: () => Promise<unknown>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export class ObjectService {
  private readonly inflight = new Map<string, Map<string, { obj: ModelObject | null }>>();
  private readonly cipher: ParamCipher | undefined;
  /** Per type with unique fields, once a write of it has needed one. */
  private readonly uniqueIndexes = new Map<string, UniqueIndex>();

  constructor(
    readonly store: Store,
    private readonly opts: ObjectServiceOptions = {},
  ) {
    this.cipher = opts.cipher;
    store.subscribe((c) => this.uniqueIndexes.get(c.Type)?.set(c.Key, c.Action === "delete" ? undefined : c.Object));
  }

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

  /** Create the object; `guard` sees the prepared object and, as the one it replaces, an empty one. */
  async create(prefix: string, input: unknown, guard?: WriteGuard): Promise<ModelObject> {
    const def = this.writableDef(prefix);
    const prepared = def.prepare(input);
    guard?.(prepared, {});
    const key = String(prepared[def.key]);
    if (this.latest(prefix, key) !== undefined) {
      throw conflict(def.model, key, `${def.model} "${key}" already exists`);
    }
    return this.commit(def, key, this.transition(def, undefined, this.keepSecure(def, key, prepared, undefined), "client"));
  }

  /** Replace the object; `guard` sees the prepared object and the stored one. */
  async replace(prefix: string, ref: string, input: unknown, guard?: WriteGuard): Promise<ModelObject> {
    const def = this.writableDef(prefix);
    const existing = this.get(prefix, ref);
    const key = String(existing[def.key]);
    this.assertWritable(def, key, existing);
    const obj = this.keepSecure(def, key, def.prepare(input, existing), existing);
    guard?.(obj, existing);
    return this.commit(def, key, this.transition(def, existing, obj, "client"));
  }

  /**
   * Apply a JSON Patch to the object as the client sees it: secrets removed and, when given, the
   * read-time `status` (Available, Errors) in place, so that a `test` op compares with what the
   * client read. Status fields are set by the server, so whatever the patch does to them is dropped.
   * `guard` sees the patched document and the one the patch applied to, both as the client sees
   * them (before secrets are carried over and before validation), so a patch that writes a
   * secret field is seen writing it. Secure params are as `access` shows them: a `test` op
   * compares with the marker or with the value in clear, never with the envelope.
   */
  async patch(prefix: string, ref: string, ops: unknown, status?: ModelObject, guard?: WriteGuard, access: SecureAccess = NO_SECURE_ACCESS): Promise<ModelObject> {
    const def = this.writableDef(prefix);
    const existing = this.get(prefix, ref);
    const key = String(existing[def.key]);
    this.assertWritable(def, key, existing);
    const shown = this.redact(def, existing, access);
    const visible = status === undefined ? shown : { ...shown, ...status };
    const patched = applyPatch(visible, ops, { model: def.model, key });
    guard?.(patched as ModelObject, visible);
    // Secret fields are invisible to clients, so they are carried over from the stored object.
    const restored: ModelObject = { ...(patched as ModelObject) };
    for (const f of def.secretFields) if (existing[f] !== undefined) restored[f] = existing[f];
    const obj = this.keepSecure(def, key, def.prepare(restored, existing), existing);
    return this.commit(def, key, this.transition(def, existing, obj, "client"));
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
    const key = String(obj[def.key]);
    return this.commit(def, key, this.transition(def, this.latest(prefix, key), obj, "server"));
  }

  /**
   * Store, as the server, `change` applied to the newest object under key (writes in flight
   * included), read and handed to the store in one synchronous step, so that no write lands in
   * between. `change` may throw to give up. NotFound when there is no such object.
   */
  async update(prefix: string, key: string, change: (current: ModelObject) => ModelObject): Promise<ModelObject> {
    const def = this.def(prefix);
    const current = this.latest(prefix, key);
    if (!current) throw notFound(def.model, key);
    return this.commit(def, key, this.transition(def, current, change(current), "server"));
  }

  /** Workflows, stages and tasks as the next write sees them (writes in flight included). */
  readonly workflowLookup: WorkflowLookup = {
    workflow: (n) => this.latest("workflows", n),
    stage: (n) => this.latest("stages", n),
    task: (n) => this.latest("tasks", n),
  };

  /** A machine's workflow fields after a write (jobs/machine-transition.ts); other types as they are. */
  private transition(def: ModelDef, before: ModelObject | undefined, next: ModelObject, actor: Actor): ModelObject {
    return def.prefix === "machines" ? machineTransition(before, next, this.workflowLookup, actor) : next;
  }

  /**
   * The object as a client may see it: secret fields removed, and the values of secure params
   * replaced by SECURE_MARKER, or shown in clear where `access` allows (getSecure).
   */
  redact(def: ModelDef, obj: ModelObject, access: SecureAccess = NO_SECURE_ACCESS): ModelObject {
    let out = obj;
    if (def.secretFields.length > 0) {
      out = {};
      for (const [k, v] of Object.entries(obj)) if (!def.secretFields.includes(k)) out[k] = v;
    }
    if (PARAM_OWNER_TYPES.has(def.prefix) && isRecord(obj.Params)) {
      const owner = { type: def.prefix, key: String(obj[def.key]) } as ParamOwner;
      const params = obj.Params;
      // Most objects hold no secure value: those are returned as stored, without a copy.
      if (Object.entries(params).some(([name, v]) => isEnvelope(v) || this.isSecure(name))) {
        const reveal = access(owner.type, owner.key);
        const shown: Record<string, unknown> = {};
        for (const [name, v] of Object.entries(params)) shown[name] = this.shownParam(owner, name, v, reveal);
        out = { ...out, Params: shown };
      }
    }
    return out;
  }

  /** One stored parameter value as a reader sees it; `reveal`: it holds getSecure on `owner`. */
  shownParam(owner: ParamOwner, name: string, value: unknown, reveal: boolean): unknown {
    return shownValue(this.cipher, owner, name, value, this.isSecure(name), reveal);
  }

  /** Whether the Param `name` is defined Secure now. */
  isSecure(name: string): boolean {
    return isSecureParamDef(this.store.get("params", name));
  }

  /**
   * Seal the values of Secure params that are stored in clear (written before their Param was
   * Secure), on every writable machine and profile, or only those of the params in `names`.
   * Returns how many objects were rewritten; when any was, the store's files are compacted, so
   * the journal lines that held the values in clear are gone. Only the values' form changes, so
   * the objects are written without the API's checks (a value that no longer fits its schema is
   * sealed all the same).
   */
  async sealStored(names?: ReadonlySet<string>): Promise<number> {
    let rewritten = 0;
    for (const prefix of PARAM_OWNER_TYPES) {
      const def = this.def(prefix);
      // Found by a scan of Params, not a list: at start-up with 100k machines a first list would
      // order and freeze them all (about 0.4 s) to find, nearly always, none to seal.
      const keys: string[] = [];
      // Only read here, so not frozen: freezing 100k machines' Params is left to the store's
      // background pass, after start-up.
      this.store.scanField(
        prefix,
        "Params",
        (key, params) => {
          if (isRecord(params) && this.holdsClearSecure(params, names)) keys.push(key);
        },
        { freeze: false },
      );
      keys.sort();
      for (const key of keys) {
        // Read and write in one synchronous step: a write in flight is the newer object.
        const obj = this.latest(prefix, key);
        if (!obj || obj.ReadOnly === true || !isRecord(obj.Params)) continue;
        const sealed = this.sealParams(def, key, obj.Params, names);
        if (sealed === obj.Params) continue;
        const mark = this.setInflight(prefix, key, { ...obj, Params: sealed });
        try {
          await this.store.put(prefix, key, { ...obj, Params: sealed });
        } finally {
          this.clearInflight(prefix, key, mark);
        }
        rewritten++;
      }
    }
    if (rewritten > 0) await this.opts.compact?.();
    return rewritten;
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

  /** The object under key as the next write sees it: writes still in flight count (null = being deleted). */
  latest(prefix: string, key: string): ModelObject | undefined {
    const pending = this.inflight.get(prefix)?.get(key);
    if (pending) return pending.obj ?? undefined;
    return this.store.get(prefix, key);
  }

  /**
   * Unique values `obj` would share: with the stored objects (by the type's UniqueIndex, built on
   * first use and kept by the store's change feed) that no write in flight replaces, and with the
   * writes in flight (what they will store).
   */
  private uniqueProblems(def: ModelDef, key: string, obj: ModelObject): string[] {
    let index = this.uniqueIndexes.get(def.prefix);
    if (!index) {
      index = new UniqueIndex(def);
      for (const o of this.store.list(def.prefix)) index.set(String(o[def.key]), o);
      this.uniqueIndexes.set(def.prefix, index);
    }
    const pending = this.inflight.get(def.prefix);
    const problems = index.conflicts(obj, key, (k) => pending?.has(k) === true);
    if (pending) {
      const writes = [...pending].filter(([k, mark]) => k !== key && mark.obj).map(([, mark]) => mark.obj!);
      problems.push(...uniqueConflicts(def, obj, writes));
    }
    return problems;
  }

  /** Every other object of the type as the next write sees it (writes in flight count). */
  private others(prefix: string, key: string): ModelObject[] {
    const pending = this.inflight.get(prefix);
    const keyField = this.def(prefix).key;
    const out: ModelObject[] = [];
    for (const o of this.store.list(prefix)) {
      const k = String(o[keyField]);
      if (k === key || pending?.has(k)) continue;
      out.push(o);
    }
    if (pending) for (const [k, mark] of pending) if (k !== key && mark.obj) out.push(mark.obj);
    return out;
  }

  private async commit(def: ModelDef, key: string, obj: ModelObject): Promise<ModelObject> {
    // The other objects of the type, for the checks across them: none to gather for a type with
    // no unique field and no overlap rule (jobs, tasks...), whose writes would otherwise cost a
    // copy of the whole type each.
    const problems = hasCrossChecks(def) ? this.uniqueProblems(def, key, obj) : [];
    if (def.prefix === "subnets") problems.push(...subnetConflicts(obj, this.others(def.prefix, key)));
    if (def.prefix === "reservations") problems.push(...reservationProblems(obj, this.store.list("subnets")));
    if (problems.length > 0) throw conflict(def.model, key, problems);
    const bad = typeProblems(def.prefix, key, obj, {
      current: (type, k) => this.latest(type, k),
      param: (n) => this.store.get("params", n),
      workflows: this.workflowLookup,
    });
    if (bad.length > 0) throw invalid(def.model, key, bad);
    let stored = obj;
    if (PARAM_OWNER_TYPES.has(def.prefix) && isRecord(obj.Params)) {
      const sealed = this.sealParams(def, key, obj.Params);
      if (sealed !== obj.Params) stored = { ...obj, Params: sealed };
    }
    const annotated = this.annotate(def, stored);
    const mark = this.setInflight(def.prefix, key, annotated);
    try {
      await this.store.put(def.prefix, key, annotated);
    } finally {
      this.clearInflight(def.prefix, key, mark);
    }
    // A Param that is Secure now: its values stored in clear are sealed before the write answers.
    if (def.prefix === "params" && annotated.Secure === true) await this.sealStored(new Set([key]));
    return annotated;
  }

  /**
   * `params` with each value of a Secure param (of those in `names`, when given) sealed; the same
   * object when nothing was to seal. Without a key that is a 503, never a value stored in clear.
   */
  /** Whether `params` holds a value of a Secure param (of those in `names`) in clear. */
  private holdsClearSecure(params: Record<string, unknown>, names?: ReadonlySet<string>): boolean {
    for (const n in params) if ((!names || names.has(n)) && !isEnvelope(params[n]) && this.isSecure(n)) return true;
    return false;
  }

  private sealParams(def: ModelDef, key: string, params: Record<string, unknown>, names?: ReadonlySet<string>): Record<string, unknown> {
    const todo = Object.keys(params).filter((n) => (!names || names.has(n)) && !isEnvelope(params[n]) && this.isSecure(n));
    if (todo.length === 0) return params;
    if (!this.cipher) {
      throw new SocleError("Unavailable", def.model, key, `Params.${todo[0]}: a Secure param's value cannot be stored: this server has no secure params key`);
    }
    const owner = { type: def.prefix, key } as ParamOwner;
    const out = { ...params };
    for (const n of todo) out[n] = this.cipher.seal(owner, n, params[n]);
    return out;
  }

  /**
   * Carry stored secure values over into a write of a machine or profile (`existing` undefined for
   * a create): SECURE_MARKER (what a reader without getSecure saw) and a value equal to the
   * stored one (what a reader with getSecure saw) keep the stored envelope. A marker with no
   * stored value behind it, and an envelope the server did not store there, are refused (422):
   * envelopes are made by the server only, and one from elsewhere would not open here anyway.
   */
  private keepSecure(def: ModelDef, key: string, next: ModelObject, existing: ModelObject | undefined): ModelObject {
    if (!PARAM_OWNER_TYPES.has(def.prefix) || !isRecord(next.Params)) return next;
    const owner = { type: def.prefix, key } as ParamOwner;
    const before = isRecord(existing?.Params) ? existing.Params : {};
    const params: Record<string, unknown> = { ...next.Params };
    const bad: string[] = [];
    let changed = false;
    for (const [name, v] of Object.entries(params)) {
      const has = Object.hasOwn(before, name);
      const stored = has ? before[name] : undefined;
      if (isMarker(v)) {
        if (!has) {
          bad.push(`Params.${name}: ${JSON.stringify(v)} stands for a stored secure value, and ${def.model} "${key}" has none; send the value itself`);
          continue;
        }
        // A value of a Secure param still in clear (not sealed yet) is sealed here, so that
        // nothing below checks or quotes a value its writer never saw.
        params[name] = !isEnvelope(stored) && this.isSecure(name) && this.cipher ? this.cipher.seal(owner, name, stored) : stored;
        changed = true;
      } else if (isEnvelope(v)) {
        if (!has || !isEnvelope(stored) || stored[ENVELOPE_FIELD] !== v[ENVELOPE_FIELD]) {
          bad.push(`Params.${name}: {"${ENVELOPE_FIELD}": ...} is a sealed value, which only the server makes; send the value itself`);
        }
      } else if (has && isEnvelope(stored) && sameAsStored(this.cipher, owner, name, stored, v)) {
        params[name] = stored;
        changed = true;
      }
    }
    if (bad.length > 0) throw invalid(def.model, key, bad);
    return changed ? { ...next, Params: params } : next;
  }

  /** Fill Validated/Available/Errors from the object's references. */
  private annotate(def: ModelDef, obj: ModelObject): ModelObject {
    const errors: string[] = Array.isArray(obj.Errors) ? [...(obj.Errors as string[])] : [];
    for (const ref of def.references(obj)) {
      if (!this.latest(ref.type, ref.key)) errors.push(missingRef(ref));
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

/** Whether a write of this type is checked against the other objects of its type (uniqueness, subnet overlap). */
function hasCrossChecks(def: ModelDef): boolean {
  return def.prefix === "subnets" || Object.entries(def.indexes).some(([f, idx]) => idx.unique && f !== def.key);
}

function missingRef(ref: Reference): string {
  return `${ref.field}: ${ref.type.replace(/s$/, "")} "${ref.key}" does not exist`;
}
