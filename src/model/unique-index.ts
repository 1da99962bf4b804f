// The unique values of one object type (a machine's Name, Address and each of its HardwareAddrs),
// kept as the store changes, so that a write checks uniqueness by lookup instead of comparing with
// every stored object (a workflow writes its machine two or three times a job: with a thousand
// machines that scan was the largest cost of the job protocol).

import type { IndexDef, ModelDef } from "./model-def.ts";
import type { ModelObject } from "./object.ts";
import { indexValuesOf, uniqueClash } from "./registry.ts";

export class UniqueIndex {
  private readonly fields: ReadonlyArray<readonly [string, IndexDef]>;
  /** field -> comparable value -> keys of the objects that hold it. */
  private readonly holders = new Map<string, Map<string, Set<string>>>();
  /** key -> the values it is filed under, per field (to unfile them). */
  private readonly filed = new Map<string, Array<readonly [string, string[]]>>();

  constructor(private readonly def: ModelDef) {
    this.fields = Object.entries(def.indexes).filter(([f, idx]) => idx.unique && f !== def.key);
    for (const [f] of this.fields) this.holders.set(f, new Map());
  }

  /** The object now stored under `key` (undefined: none). */
  set(key: string, obj: ModelObject | undefined): void {
    for (const [f, values] of this.filed.get(key) ?? []) {
      const byValue = this.holders.get(f)!;
      for (const v of values) {
        const keys = byValue.get(v);
        keys?.delete(key);
        if (keys?.size === 0) byValue.delete(v);
      }
    }
    this.filed.delete(key);
    if (!obj) return;
    const entries = this.fields.map(([f, idx]) => [f, indexValuesOf(idx, obj[f])] as const);
    for (const [f, values] of entries) {
      const byValue = this.holders.get(f)!;
      for (const v of values) {
        let keys = byValue.get(v);
        if (!keys) byValue.set(v, (keys = new Set()));
        keys.add(key);
      }
    }
    this.filed.set(key, entries);
  }

  /**
   * Collisions of `obj`, to be stored under `key`, with the objects filed here: its own key and
   * those `skip` names (writes in flight, checked by the caller against what they will store)
   * do not count.
   */
  conflicts(obj: ModelObject, key: string, skip: (key: string) => boolean): string[] {
    const out: string[] = [];
    for (const [f, idx] of this.fields) {
      const byValue = this.holders.get(f)!;
      for (const v of new Set(indexValuesOf(idx, obj[f]))) {
        for (const k of byValue.get(v) ?? []) {
          if (k !== key && !skip(k)) out.push(uniqueClash(this.def, f, v, k));
        }
      }
    }
    return out;
  }
}
