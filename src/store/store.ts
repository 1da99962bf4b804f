// The Store interface. Two implementations (file-store.ts, memory-store.ts) pass one contract
// suite (contract.ts). Everything above the store sees only this interface.
//
// Semantics every implementation keeps:
// - Reads are synchronous from memory and return deep-frozen objects (callers copy to modify,
//   through JSON or field by field; not structuredClone, see freeze.ts).
// - A write resolves only once it is durable (file store: fdatasync'd journal). Writes are applied
//   in call order; the returned Change carries the Seq the store assigned.
// - Objects of the read-only layer (shipped content, built-ins) are visible through get/list with
//   ReadOnly: true; writing or deleting them throws SocleError Conflict. A writable object may not
//   shadow a read-only one.
// - Every committed change is published to subscribers after it is durable, in Seq order.

import type { Change, ModelObject } from "../model/object.ts";

/** How scanField hands values over (see there). */
export interface ScanOptions {
  /** false: hand lists and maps over unfrozen, to be only read during the scan (default true). */
  freeze?: boolean;
}

export interface Store {
  /** Load state, recover from any crash, take the single-writer lock. */
  open(): Promise<void>;
  /** Flush pending writes, write a snapshot if useful, release the lock. */
  close(): Promise<void>;

  /** The object of `type` under `key`, or undefined. */
  get(type: string, key: string): ModelObject | undefined;
  /** All objects of `type` (read-only layer first, then writable), in key order. */
  list(type: string): ModelObject[];
  /** Number of objects of `type`. */
  count(type: string): number;
  /**
   * Hand `fn` the key and the `field` value of every object `list(type)` would return, in no
   * particular order, with nothing sorted, copied or frozen but the values handed over (a string
   * as it is, a list or map deep-frozen): for building an index at start-up, where a first `list`
   * of a million leases pays for ordering and freezing them all.
   *
   * With `{ freeze: false }` a list or map is handed over as it is, perhaps not frozen yet: `fn`
   * must only read it, and keep no reference to it past the scan. At start-up that leaves the
   * freezing to the store's background pass (100k machines' Params: ~0.3 s).
   */
  scanField(type: string, field: string, fn: (key: string, value: unknown) => void, opts?: ScanOptions): void;

  /** Create or replace. `action` defaults to "update" when the key exists, else "create". */
  put(type: string, key: string, obj: ModelObject): Promise<Change>;
  /** Delete; throws NotFound if absent, Conflict if read-only. */
  delete(type: string, key: string): Promise<Change>;

  /** Sequence number of the last committed change (0 for an empty store). */
  readonly seq: number;
  /** Receive each committed change. Returns the unsubscribe function. */
  subscribe(fn: (change: Change) => void): () => void;
}

/** Read-only content layered under the writable one (shipped bootenvs, built-in objects). */
export interface ReadOnlyLayer {
  /** type -> key -> object. Objects are marked ReadOnly: true by the store. */
  objects: Map<string, Map<string, ModelObject>>;
}

export function emptyLayer(): ReadOnlyLayer {
  return { objects: new Map() };
}
