import { runStoreContract } from "./contract.ts";
import { openMemoryStore } from "./memory-store.ts";

runStoreContract("memory store", async (layer) => ({
  store: await openMemoryStore({ layer }),
  cleanup: async () => {},
}));
