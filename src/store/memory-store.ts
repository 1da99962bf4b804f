// The store without I/O: same checks, numbering, ordering and feed as the file store (both are
// StoreCore), for tests and for running with `--data-dir :memory:`. Nothing survives close().
// A store can start from a snapshot (replica.ts), the counterpart of FileStore.importSnapshot;
// changesSince answers from the in-memory ring only, since nothing older is kept anywhere.

import { nullLogger, type Logger } from "../log/logger.ts";
import { emptyLayer, type ReadOnlyLayer } from "./store.ts";
import { StoreCore, checkSnapshot, type PendingWrite } from "./store-core.ts";
import type { StoreSnapshot } from "./replica.ts";

export interface MemoryStoreOptions {
  layer?: ReadOnlyLayer;
  log?: Logger;
  /** Committed changes kept for changesSince (default 20,000). */
  historyLimit?: number;
  /** Start with these objects at this Seq (checked when the store is made). */
  snapshot?: StoreSnapshot;
}

export class MemoryStore extends StoreCore {
  private readonly snapshot: StoreSnapshot | undefined;

  constructor(opts: MemoryStoreOptions = {}) {
    super(opts.layer ?? emptyLayer(), opts.log ?? nullLogger, opts.historyLimit === undefined ? {} : { historyLimit: opts.historyLimit });
    if (opts.snapshot) checkSnapshot(opts.snapshot);
    this.snapshot = opts.snapshot;
  }

  async open(): Promise<void> {
    // Copies: the snapshot's objects stay the caller's.
    for (const e of this.snapshot?.entries ?? []) this.load(e.Type, e.Key, structuredClone(e.Object));
    this.markOpen(this.snapshot?.seq ?? 0);
  }

  async close(): Promise<void> {
    await this.beginClose();
    this.markClosed();
  }

  protected async persist(_batch: readonly PendingWrite[]): Promise<void> {
    // Nothing to make durable; resolving asynchronously keeps call-then-commit ordering the same
    // as the file store's.
  }

  protected describe(): string {
    return "memory store";
  }
}

/** A new, opened memory store. */
export async function openMemoryStore(opts: MemoryStoreOptions = {}): Promise<MemoryStore> {
  const store = new MemoryStore(opts);
  await store.open();
  return store;
}
