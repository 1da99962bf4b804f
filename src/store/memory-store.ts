// The store without I/O: same checks, numbering, ordering and feed as the file store (both are
// StoreCore), for tests and for running with `--data-dir :memory:`. Nothing survives close().

import { nullLogger, type Logger } from "../log/logger.ts";
import { emptyLayer, type ReadOnlyLayer } from "./store.ts";
import { StoreCore, type PendingWrite } from "./store-core.ts";

export interface MemoryStoreOptions {
  layer?: ReadOnlyLayer;
  log?: Logger;
}

export class MemoryStore extends StoreCore {
  constructor(opts: MemoryStoreOptions = {}) {
    super(opts.layer ?? emptyLayer(), opts.log ?? nullLogger);
  }

  async open(): Promise<void> {
    this.markOpen(0);
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
