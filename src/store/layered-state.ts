// The in-memory picture every store keeps: a read-only layer (shipped content) under a writable
// layer, one Map per type, plus key-ordered lists and a consistent point-in-time view for
// snapshots. No I/O, no Seq bookkeeping: store-core.ts decides what gets applied and when.
//
// Time budget: nothing here may hold the event loop for long once the server runs. Ordering
// is built once at open (finishLoad; snapshots are written in key order, so that is mostly a
// check), objects loaded at open are frozen in the background in slices (freezeInBackground) or
// on first read, and snapshot views read the live maps across event-loop turns, copying only
// each type's key order instead of its objects.

import type { ModelObject } from "../model/object.ts";
import type { ReadOnlyLayer } from "./store.ts";
import { deepFreeze, shareEmpties } from "./freeze.ts";

interface Table {
  objects: Map<string, ModelObject>;
  /**
   * Keys in order and their objects, in parallel; null until finishLoad or the first list.
   * Kept up to date by binary search: an update is O(log n), an insert or delete one memmove
   * (about 50 µs at 100k keys).
   */
  sorted: string[] | null;
  values: ModelObject[] | null;
  /** Every object in `values` is frozen (false after a load, until frozen). */
  allFrozen: boolean;
}

const ABSENT = Symbol("absent");
type Prior = ModelObject | typeof ABSENT;

/** A writable object hidden by a read-only one with the same key (found at load time). */
export interface Shadowed {
  type: string;
  key: string;
}

function newTable(): Table {
  return { objects: new Map(), sorted: null, values: null, allFrozen: true };
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of `key` in the sorted array, or the insertion point as -(index + 1). */
function search(sorted: string[], key: string): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const k = sorted[mid] as string;
    if (k < key) lo = mid + 1;
    else if (k > key) hi = mid - 1;
    else return mid;
  }
  return -(lo + 1);
}

function buildOrder(t: Table): void {
  const keys = [...t.objects.keys()];
  const values = [...t.objects.values()];
  // Snapshots are written in key order (beginView), so a table loaded from one is a sorted run,
  // then the keys its journal added: sort those few and merge, rather than sort everything.
  let run = 1;
  while (run < keys.length && (keys[run - 1] as string) < (keys[run] as string)) run++;
  if (run >= keys.length) {
    t.sorted = keys;
    t.values = values;
    return;
  }
  const tail = keys.slice(run).sort(byKey);
  if (run < tail.length) {
    const sorted = keys.sort(byKey);
    t.values = sorted.map((k) => t.objects.get(k) as ModelObject);
    t.sorted = sorted;
    return;
  }
  const sorted = new Array<string>(keys.length);
  const vals = new Array<ModelObject>(keys.length);
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < run || j < tail.length) {
    if (j >= tail.length || (i < run && (keys[i] as string) < (tail[j] as string))) {
      sorted[o] = keys[i] as string;
      vals[o++] = values[i++] as ModelObject;
    } else {
      const k = tail[j++] as string;
      sorted[o] = k;
      vals[o++] = t.objects.get(k) as ModelObject;
    }
  }
  t.sorted = sorted;
  t.values = vals;
}

/** The table's objects in key order, all frozen. */
function ordered(t: Table): ModelObject[] {
  if (!t.sorted || !t.values) buildOrder(t);
  const values = t.values as ModelObject[];
  if (!t.allFrozen) {
    for (const v of values) deepFreeze(v);
    t.allFrozen = true;
  }
  return values;
}

/**
 * Trim what a loaded object costs to hold, a few tens of bytes each, which adds up at a million
 * objects: its empty top-level lists and maps (nearly every object has `Errors: []` and
 * `Meta: {}`) become shared frozen ones, each parsed empty being a heap object of its own (safe:
 * stored objects are frozen and read-only anyway); and the key is returned as the object's own
 * field holding the same text (a lease's Addr, a machine's Uuid), so the parsed copy of the key
 * can go.
 */
function compactLoaded(key: string, obj: ModelObject): string {
  if (Object.isFrozen(obj)) return key;
  return shareEmpties(obj as Record<string, unknown>, key) ?? key;
}

/** Objects loaded at open are frozen on first read (see freeze.ts). */
function frozen(obj: ModelObject | undefined): ModelObject | undefined {
  return obj === undefined || Object.isFrozen(obj) ? obj : deepFreeze(obj);
}

export class LayeredState {
  private readonly ro = new Map<string, Table>();
  private readonly rw = new Map<string, Table>();
  /** type -> number of writable objects hidden by read-only ones. */
  private readonly hidden = new Map<string, number>();
  /** While a snapshot view is open: type -> key -> value at the view's point. */
  private undo: Map<string, Map<string, Prior>> | null = null;

  /** Copies the layer's objects, marked ReadOnly: true and frozen; the layer itself is untouched. */
  constructor(layer: ReadOnlyLayer) {
    for (const [type, objects] of layer.objects) {
      const t = newTable();
      for (const [key, obj] of objects) {
        t.objects.set(key, deepFreeze({ ...structuredClone(obj), ReadOnly: true }));
      }
      buildOrder(t);
      this.ro.set(type, t);
    }
  }

  isReadOnly(type: string, key: string): boolean {
    return this.ro.get(type)?.objects.has(key) ?? false;
  }

  /** The writable object (ignores the read-only layer). */
  getWritable(type: string, key: string): ModelObject | undefined {
    return frozen(this.rw.get(type)?.objects.get(key));
  }

  get(type: string, key: string): ModelObject | undefined {
    const ro = this.ro.get(type)?.objects.get(key);
    if (ro) return ro;
    const t = this.rw.get(type);
    const obj = t?.objects.get(key);
    // Once a table is known frozen, skip touching the object's header (a cache miss per lookup).
    return t?.allFrozen ? obj : frozen(obj);
  }

  count(type: string): number {
    const ro = this.ro.get(type)?.objects.size ?? 0;
    const rw = this.rw.get(type)?.objects.size ?? 0;
    return ro + rw - (this.hidden.get(type) ?? 0);
  }

  /** Read-only objects first, then writable ones, each in key order. A fresh array per call. */
  list(type: string): ModelObject[] {
    const ro = this.ro.get(type);
    const rw = this.rw.get(type);
    const roList = ro ? ordered(ro) : [];
    let rwList = rw ? ordered(rw) : [];
    if (ro && rw && this.hidden.get(type)) {
      const keys = rw.sorted as string[];
      rwList = rwList.filter((_, i) => !ro.objects.has(keys[i] as string));
    }
    if (roList.length === 0) return rwList.slice();
    if (rwList.length === 0) return roList.slice();
    return roList.concat(rwList);
  }

  /**
   * `fn(key, obj[field])` for every object `list(type)` returns, read-only layer first, each in
   * map order: no ordering built, and of a loaded object only the value handed over is frozen
   * (the object itself is never handed out, so it stays unfrozen for the background pass), or
   * nothing at all with `freeze` false (Store.scanField says what the caller promises then).
   */
  scanField(type: string, field: string, fn: (key: string, value: unknown) => void, freeze = true): void {
    // Read as obj[field], a name Object.prototype has would reach it (and freeze it) on any
    // object lacking the field.
    if (field in Object.prototype) throw new Error(`scan ${type}: field "${field}" is a name every object inherits`);
    const ro = this.ro.get(type);
    const rw = this.rw.get(type);
    if (ro) for (const [key, obj] of ro.objects) fn(key, obj[field]);
    if (!rw) return;
    const shadowed = ro && this.hidden.get(type) ? ro.objects : null;
    for (const [key, obj] of rw.objects) {
      if (shadowed?.has(key)) continue;
      const v = obj[field];
      fn(key, freeze && typeof v === "object" && v !== null ? deepFreeze(v) : v);
    }
  }

  /** Types holding at least one object (either layer), sorted. */
  types(): string[] {
    const all = new Set<string>();
    for (const [type, t] of this.ro) if (t.objects.size > 0) all.add(type);
    for (const [type, t] of this.rw) if (t.objects.size > 0) all.add(type);
    return [...all].sort(byKey);
  }

  /**
   * Set (obj) or remove (null) a writable object. Objects from put() arrive frozen; objects
   * loaded at open (`loaded`) are frozen later, in the background or on first read.
   */
  apply(type: string, key: string, obj: ModelObject | null, loaded = false): void {
    if (loaded && obj !== null) key = compactLoaded(key, obj);
    let t = this.rw.get(type);
    if (!t) {
      if (obj === null) return;
      t = newTable();
      this.rw.set(type, t);
    }
    // Only a view's undo record and a delete need the value replaced: a Map lookup fewer per
    // object loaded at open (a million of them).
    const prior = this.undo || obj === null ? t.objects.get(key) : undefined;
    if (this.undo) {
      let u = this.undo.get(type);
      if (!u) {
        u = new Map();
        this.undo.set(type, u);
      }
      if (!u.has(key)) u.set(key, prior ?? ABSENT);
    }
    if (obj === null) {
      if (prior === undefined) return;
      t.objects.delete(key);
      if (t.sorted && t.values) {
        const i = search(t.sorted, key);
        if (i >= 0) {
          t.sorted.splice(i, 1);
          t.values.splice(i, 1);
        }
      }
      return;
    }
    t.objects.set(key, obj);
    if (loaded) t.allFrozen = false;
    if (t.sorted && t.values) {
      const i = search(t.sorted, key);
      if (i >= 0) {
        t.values[i] = obj;
      } else {
        t.sorted.splice(-i - 1, 0, key);
        t.values.splice(-i - 1, 0, obj);
      }
    }
  }

  /**
   * After loading: build the key order of every type (about 30 ms per 100k keys, paid at open
   * rather than by the first list request) and find writable objects that share a key with a
   * read-only one. The read-only object wins in get/list/count; the writable one stays stored
   * (an upgrade that ships a new object must not destroy an operator's data) and is reported.
   */
  finishLoad(): Shadowed[] {
    for (const t of this.rw.values()) if (!t.sorted) buildOrder(t);
    const out: Shadowed[] = [];
    this.hidden.clear();
    for (const [type, t] of this.rw) {
      const ro = this.ro.get(type);
      if (!ro) continue;
      let n = 0;
      for (const key of t.objects.keys()) {
        if (ro.objects.has(key)) {
          out.push({ type, key });
          n++;
        }
      }
      if (n > 0) this.hidden.set(type, n);
    }
    return out;
  }

  /**
   * Freeze loaded objects a slice at a time, giving the event loop a turn between slices, so
   * that neither the first list nor anything else pays for it in one piece.
   */
  async freezeInBackground(sliceMs = 2): Promise<void> {
    for (const t of this.rw.values()) {
      if (t.allFrozen) continue;
      let slice = performance.now();
      let n = 0;
      // Live iteration across turns is safe: objects added meanwhile come from put(), frozen.
      for (const obj of t.objects.values()) {
        deepFreeze(obj);
        if ((++n & 255) === 0 && performance.now() - slice >= sliceMs) {
          await new Promise((resolve) => setImmediate(resolve));
          slice = performance.now();
        }
      }
      t.allFrozen = true;
    }
  }

  /**
   * Start a point-in-time view of the writable layer. Changes applied while the view is open
   * record the value they replaced, so the view stays consistent while it is read across
   * event-loop turns, copying only each type's key order up front (a few ms at a million keys).
   * Call `end()` when done; one view at a time.
   */
  beginView(): WritableView {
    if (this.undo) throw new Error("begin snapshot view: a view is already open");
    const undo = new Map<string, Map<string, Prior>>();
    this.undo = undo;
    const rw = this.rw;
    const types = [...rw.entries()].filter(([, t]) => t.objects.size > 0).map(([type]) => type).sort(byKey);
    // The keys as of the view's point: in key order when the table's order is known; a table not
    // listed since it was made (a fresh install grown large, say) goes in map order rather than
    // be sorted here, with the write loop held (~0.4 s at a million keys). The next open sorts it.
    const order = new Map<string, string[]>();
    for (const type of types) {
      const t = rw.get(type) as Table;
      order.set(type, t.sorted ? t.sorted.slice() : [...t.objects.keys()]);
    }
    return {
      types,
      *entries(type: string): Generator<[string, ModelObject]> {
        const t = rw.get(type);
        const keys = order.get(type);
        if (!t || !keys) return;
        // `undo` has the view-point value of every key changed since the view began (ABSENT for
        // one added since, which is not among `keys` anyway); any other key still holds it.
        for (const key of keys) {
          const prior = undo.get(type)?.get(key);
          if (prior === undefined) {
            const current = t.objects.get(key);
            if (current !== undefined) yield [key, current];
          } else if (prior !== ABSENT) yield [key, prior];
        }
      },
      end: () => {
        if (this.undo === undo) this.undo = null;
      },
    };
  }
}

export interface WritableView {
  /** Types holding writable objects when the view began. */
  types: string[];
  /** The (key, object) pairs of `type` as of the view's point, in key order when known (see beginView). */
  entries(type: string): Generator<[string, ModelObject]>;
  end(): void;
}
