// Synthetic lease records for the memory measurement: written straight into a data directory with
// the file store, so Socle then opens (and its DHCP backend indexes) that many leases at start.
// Their addresses come from 198.18.0.0/15 (RFC 2544, benchmarking): they are records only and never
// appear on any network.

import type { ModelObject } from "../../src/model/object.ts";
import { openFileStore } from "../../src/store/file-store.ts";

const hex2 = (n: number) => (n & 255).toString(16).padStart(2, "0");

/** Lease number i (0 <= i < 131072): 198.18.0.0/15 address, a unique locally administered MAC. */
export function syntheticLease(i: number, expires: Date): ModelObject {
  if (!Number.isInteger(i) || i < 0 || i >= 1 << 17) throw new Error(`synthetic lease index "${i}" is outside 0..131071 (198.18.0.0/15)`);
  return {
    Addr: `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
    Token: `02:5b:00:${hex2(i >> 16)}:${hex2(i >> 8)}:${hex2(i)}`,
    Strategy: "MAC",
    State: "ACK",
    ExpireTime: expires.toISOString(),
    Via: "",
    Hostname: `bench-${i}`,
    Validated: true,
    Available: true,
    Errors: [],
    ReadOnly: false,
    Meta: {},
  };
}

/** Write `count` leases into the store of `dataDir` (durably, in concurrent batches); returns ms. */
export async function populateLeases(dataDir: string, count: number): Promise<number> {
  const t = performance.now();
  const store = await openFileStore({ dir: dataDir });
  try {
    const expires = new Date(Date.now() + 7 * 24 * 3600 * 1000);
    const BATCH = 2000;
    for (let i = 0; i < count; i += BATCH) {
      const n = Math.min(BATCH, count - i);
      await Promise.all(
        Array.from({ length: n }, (_, k) => {
          const l = syntheticLease(i + k, expires);
          return store.put("leases", l.Addr as string, l);
        }),
      );
    }
  } finally {
    await store.close();
  }
  return performance.now() - t;
}
