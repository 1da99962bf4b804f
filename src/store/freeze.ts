// Stored objects are deep-frozen rather than cloned on every read: a read is then a Map lookup
// with no allocation, and a caller that wants to modify an object clones it first
// (structuredClone). Freezing costs about 1 µs per lease-sized object, paid once per write, or
// for objects loaded at open, on first read (layered-state.ts), so that open stays fast.

import type { ModelObject } from "../model/object.ts";

/** Freeze `value` and everything reachable from it; returns `value`. Cycle-safe. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  } else {
    // for-in rather than Object.keys: no array per object (2x faster on 100k objects). Stored
    // objects are plain JSON, so there are no inherited enumerable properties to skip.
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** A frozen copy of JSON text that is known to encode an object. */
export function frozenFromJSON(json: string): ModelObject {
  return deepFreeze(JSON.parse(json) as ModelObject);
}
