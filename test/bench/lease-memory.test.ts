import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { modelFor } from "../../src/model/registry.ts";
import { openFileStore } from "../../src/store/file-store.ts";
import { populateLeases, syntheticLease } from "./lease-memory.ts";

test("synthetic leases are valid Lease objects with distinct 198.18.0.0/15 addresses and MACs", () => {
  const def = modelFor("leases")!;
  const when = new Date(Date.UTC(2030, 0, 1));
  const first = syntheticLease(0, when);
  const last = syntheticLease((1 << 17) - 1, when);
  expect(first.Addr).toBe("198.18.0.0");
  expect(last.Addr).toBe("198.19.255.255");
  expect(last.Token).toBe("02:5b:00:01:ff:ff");
  for (const l of [first, last, syntheticLease(99_999, when)]) {
    expect(def.prepare(structuredClone(l))).toEqual(l); // throws a ValidationError when invalid
  }
  expect(() => syntheticLease(1 << 17, when)).toThrow(/outside 0..131071/);
});

test("populateLeases writes them into the data directory's store", async () => {
  const dir = mkdtempSync(join(tmpdir(), "socle-lease-mem-"));
  try {
    await populateLeases(dir, 2500);
    const store = await openFileStore({ dir });
    expect(store.count("leases")).toBe(2500);
    expect(store.get("leases", "198.18.9.195")?.Token).toBe("02:5b:00:00:09:c3");
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
