// What an HA standby needs from a store to carry its peer's store with the same Seq numbers:
// the changes after a Seq (to catch up), a consistent copy of everything (when the changes are
// gone), and a way to apply changes numbered on the peer. Both StoreCore implementations
// (file-store.ts, memory-store.ts) are ReplicaStores; the shared contract suite (contract.ts)
// proves the semantics on each.
//
// Only writable objects travel. The read-only layer (shipped content, built-ins) is the same on
// both nodes because both run the same binary, so a replicated change to a read-only key means
// the nodes differ and is refused like a local write to it.
//
// Loading a snapshot happens before open: FileStore.importSnapshot(dir, snap) replaces the store
// directory; a MemoryStore takes one as its `snapshot` option. Numbering then continues at
// snap.seq + 1. A snapshot from elsewhere is checked by store-core.ts checkSnapshot.

import type { Change, ModelObject } from "../model/object.ts";
import type { Store } from "./store.ts";

export interface ReplicaEntry {
  Type: string;
  Key: string;
  Object: ModelObject;
}

/** Every writable object (never read-only layer content) as of `seq`. */
export interface StoreSnapshot {
  seq: number;
  /** Grouped by type; in no particular order within a type. */
  entries: ReplicaEntry[];
}

export interface ReplicaStore extends Store {
  /**
   * Committed changes with Seq > seq, in Seq order, at most `limit` (default 1000); [] when
   * seq == this.seq; undefined when some change after `seq` is no longer held (the peer then
   * needs a full snapshot), or when seq > this.seq. Changes are as published: same Seq, Time,
   * Action and Object (for a delete, the object as it was).
   */
  changesSince(seq: number, limit?: number): Promise<Change[] | undefined>;
  /** A consistent copy of every writable object as of one Seq; writes continue meanwhile. */
  exportSnapshot(): Promise<StoreSnapshot>;
  /**
   * Apply changes made on the peer, keeping their Seq, Time, Action and Object: changes[0].Seq
   * must follow the last Seq this store has numbered (this.seq + 1 when nothing is in flight; a
   * list may follow one whose apply has not resolved yet) and the list must be contiguous, and
   * no local write may be pending; otherwise SocleError Conflict naming both numbers. A change
   * that does not fit this store's objects (a create of a key that exists, a delete or update of
   * one that does not, a read-only key) is a Conflict too: the stores differ. A refused list
   * changes nothing. Persisted (one group commit), applied and published to subscribers exactly
   * like local writes. Resolves when durable.
   */
  applyReplicated(changes: readonly Change[]): Promise<void>;
}

export function isReplicaStore(s: Store): s is ReplicaStore {
  const r = s as Partial<ReplicaStore>;
  return typeof r.changesSince === "function" && typeof r.exportSnapshot === "function" && typeof r.applyReplicated === "function";
}
