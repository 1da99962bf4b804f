import { expect, test } from "bun:test";
import { nullLogger } from "../log/logger.ts";
import type { MachineCa, RevokeReason } from "../pki/machine-ca.ts";
import { MemoryStore } from "../store/memory-store.ts";
import { watchMachineIdentity } from "./machine-identity.ts";

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";
const machine = (uuid: string, o: Record<string, unknown>) => ({ Uuid: uuid, Name: `m-${uuid.slice(-1)}`, Secret: `s-${uuid.slice(-1)}`, BootEnv: "local", HardwareAddrs: [], ...o });

test("machines stored before the watch starts are known: each change after it revokes by the rule", async () => {
  const store = new MemoryStore();
  await store.open();
  await store.put("machines", A, machine(A, {}));
  await store.put("machines", B, machine(B, { BootEnv: "discovery" }));
  const revoked: [string, RevokeReason][] = [];
  const mca = { revokeMachine: async (uuid: string, reason: RevokeReason) => void revoked.push([uuid, reason]) } as unknown as MachineCa;
  const stop = watchMachineIdentity(store, mca, nullLogger);
  try {
    // Known at start: a change of nothing that matters revokes nothing (an unknown machine would
    // not be compared at all, so these also prove what the start read).
    await store.put("machines", A, machine(A, { Description: "x" }));
    await store.put("machines", B, machine(B, { BootEnv: "local" })); // an install finished
    expect(revoked).toEqual([]);
    await store.put("machines", A, machine(A, { Secret: "new" }));
    await store.put("machines", B, machine(B, { BootEnv: "local", Name: "renamed" }));
    await store.put("machines", B, machine(B, { BootEnv: "ubuntu-install", Name: "renamed" }));
    await store.delete("machines", A);
    expect(revoked).toEqual([
      [A, "revoked"],
      [B, "reprovisioned"],
      [B, "reprovisioned"],
      [A, "deleted"],
    ]);
  } finally {
    stop();
    await store.close();
  }
});

test("a machine stored before the watch starts: its name and boot environment are read then, not taken as new", async () => {
  const store = new MemoryStore();
  await store.open();
  await store.put("machines", A, machine(A, { Name: "kept", BootEnv: "discovery" }));
  const revoked: string[] = [];
  const mca = { revokeMachine: async (_u: string, reason: RevokeReason) => void revoked.push(reason) } as unknown as MachineCa;
  const stop = watchMachineIdentity(store, mca, nullLogger);
  try {
    await store.put("machines", A, machine(A, { Name: "kept", BootEnv: "discovery", Description: "y" }));
    expect(revoked).toEqual([]);
    await store.put("machines", A, machine(A, { Name: "other", BootEnv: "discovery" }));
    expect(revoked).toEqual(["reprovisioned"]);
  } finally {
    stop();
    await store.close();
  }
});
