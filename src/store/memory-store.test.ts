import { runStoreContract } from "./contract.ts";
import { openMemoryStore } from "./memory-store.ts";

runStoreContract("memory store", async (layer, opts = {}) => ({
  store: await openMemoryStore({ layer, ...opts }),
  cleanup: async () => {},
}));
