import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { runStoreContract } from "./contract.ts";
import { openFileStore } from "./file-store.ts";

runStoreContract("file store", async (layer) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "socle-store-"));
  return {
    store: await openFileStore({ dir, layer }),
    reopen: () => openFileStore({ dir, layer }),
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
});

// Compaction on every few writes: the same contract must hold while snapshots run all the time.
runStoreContract("file store, compacting every 3 entries", async (layer) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "socle-store-"));
  return {
    store: await openFileStore({ dir, layer, compactEntries: 3 }),
    reopen: () => openFileStore({ dir, layer, compactEntries: 3 }),
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
});
