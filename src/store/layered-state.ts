// The in-memory picture every store keeps: a read-only layer (shipped content) under a writable
// layer, one Map per type, plus key-ordered lists and a consistent point-in-time view for
// snapshots. No I/O, no Seq bookkeeping: store-core.ts decides what gets applied and when.

import type { ModelObject } from "../model/object.ts";
import type { ReadOnlyLayer } from "./store.ts";
import { deepFreeze } from "./freeze.ts";

interface Table {
  objects: Map<string, ModelObject>;
  /** Keys in order, or null until somebody lists (bulk loads do not pay for sorting). */
  sorted: string[] | null;
  /** The list() result, rebuilt after a change. */
  listed: ModelObject[] | null;
}

const ABSENT = Symbol("absent");
type Prior = ModelObject | typeof ABSENT;

/** A writable object hidden by a read-only one with the same key (found at load time). */
export interface Shadowed {
  type: string;
  key: string;
}

function newTable(): Table {
  return { objects: new Map(), sorted: null, listed: null };
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

function sortedKeys(t: Table): string[] {
  if (!t.sorted) t.sorted = [...t.objects.keys()].sort(byKey);
  return t.sorted;
}

export class LayeredState {
  private readonly ro = new Map<string, Table>();
  private readonly rw = new Map<string, Table>();
  /** type -> number of writable objects hidden by read-only ones. */
  private readonly hidden = new Map<string, number>();
  /** While a snapshot is being written: type -> key -> value at the snapshot's point. */
  private undo: Map<string, Map<string, Prior>> | null = null;

  /** Copies the layer's objects, marked ReadOnly: true and frozen; the layer itself is untouched. */
  constructor(layer: ReadOnlyLayer) {
    for (const [type, objects] of layer.objects) {
      const t = newTable();
      for (const [key, obj] of objects) {
        t.objects.set(key, deepFreeze({ ...structuredClone(obj), ReadOnly: true }));
      }
      this.ro.set(type, t);
    }
  }

  isReadOnly(type: string, key: string): boolean {
    return this.ro.get(type)?.objects.has(key) ?? false;
  }

  /** The writable object (ignores the read-only layer). */
  getWritable(type: string, key: string): ModelObject | undefined {
    return this.rw.get(type)?.objects.get(key);
  }

  get(type: string, key: string): ModelObject | undefined {
    return this.ro.get(type)?.objects.get(key) ?? this.rw.get(type)?.objects.get(key);
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
    const roList = ro ? this.listed(ro, null) : [];
    const rwList = rw ? this.listed(rw, this.hidden.get(type) ? (ro ?? null) : null) : [];
    if (roList.length === 0) return rwList.slice();
    if (rwList.length === 0) return roList.slice();
    return roList.concat(rwList);
  }

  private listed(t: Table, hiddenBy: Table | null): ModelObject[] {
    if (!t.listed) {
      const keys = sortedKeys(t);
      const out: ModelObject[] = [];
      for (const k of keys) {
        if (hiddenBy?.objects.has(k)) continue;
        out.push(t.objects.get(k) as ModelObject);
      }
      t.listed = out;
    }
    return t.listed;
  }

  /** Types holding at least one object (either layer), sorted. */
  types(): string[] {
    const all = new Set<string>();
    for (const [type, t] of this.ro) if (t.objects.size > 0) all.add(type);
    for (const [type, t] of this.rw) if (t.objects.size > 0) all.add(type);
    return [...all].sort(byKey);
  }

  /** Set (obj) or remove (null) a writable object. `obj` must already be frozen. */
  apply(type: string, key: string, obj: ModelObject | null): void {
    let t = this.rw.get(type);
    if (!t) {
      if (obj === null) return;
      t = newTable();
      this.rw.set(type, t);
    }
    const prior = t.objects.get(key);
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
      if (t.sorted) {
        const i = search(t.sorted, key);
        if (i >= 0) t.sorted.splice(i, 1);
      }
    } else {
      t.objects.set(key, obj);
      if (prior === undefined && t.sorted) {
        const i = search(t.sorted, key);
        if (i < 0) t.sorted.splice(-i - 1, 0, key);
      }
    }
    t.listed = null;
  }

  /**
   * After loading the writable layer: find writable objects that share a key with a read-only
   * one. The read-only object wins in get/list/count; the writable one stays stored (an upgrade
   * that ships a new object must not destroy an operator's data) and is reported.
   */
  findShadowed(): Shadowed[] {
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
      t.listed = null;
    }
    return out;
  }

  /**
   * Start a point-in-time view of the writable layer. Changes applied while the view is open
   * record the value they replaced, so the view stays consistent while it is read across
   * event-loop turns. Call `end()` when done; only one view may be open.
   */
  beginView(): WritableView {
    if (this.undo) throw new Error("begin snapshot view: a view is already open");
    const undo = new Map<string, Map<string, Prior>>();
    this.undo = undo;
    // The keys present now, copied once (about 1 ms per 100k keys); values are read later,
    // through the undo map for keys changed since.
    const keys = new Map<string, string[]>();
    for (const [type, t] of this.rw) if (t.objects.size > 0) keys.set(type, [...t.objects.keys()]);
    const rw = this.rw;
    const end = () => {
      if (this.undo === undo) this.undo = null;
    };
    return {
      types: [...keys.keys()].sort(byKey),
      *entries(type: string): Generator<[string, ModelObject]> {
        const t = rw.get(type);
        for (const key of keys.get(type) ?? []) {
          const prior = undo.get(type)?.get(key);
          if (prior === ABSENT) continue; // for the type checker: listed keys existed at the point
          const obj = prior ?? t?.objects.get(key);
          if (obj) yield [key, obj];
        }
      },
      end,
    };
  }
}

export interface WritableView {
  /** Types holding writable objects when the view began. */
  types: string[];
  /** The (key, object) pairs of `type` as of the view's point, in no particular order. */
  entries(type: string): Generator<[string, ModelObject]>;
  end(): void;
}
