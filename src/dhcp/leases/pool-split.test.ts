// RFC 3074 hash and the address/client halves built on it.

import { describe, expect, test } from "bun:test";
import { ipOf } from "./leases.ts";
import { addressHalf, clientHalf, loadBalanceHash, mixingTable } from "./pool-split.ts";

const LAB_POOL = Array.from({ length: 100 }, (_, i) => `198.51.100.${100 + i}`); // .100-.199

describe("RFC 3074 hash", () => {
  test("the mixing table is a permutation of 0..255 with the RFC's first and last entries", () => {
    const t = mixingTable();
    expect(t.length).toBe(256);
    expect([...t].sort((a, b) => a - b)).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect([t[0], t[1], t[2], t[14], t[254], t[255]]).toEqual([251, 175, 119, 0, 234, 151]);
  });

  test("worked by hand: seeded with the length, bytes taken from the last to the first", () => {
    expect(loadBalanceHash(new Uint8Array(0))).toBe(0);
    expect(loadBalanceHash(Uint8Array.of(0))).toBe(175); // T[1 ^ 0] = T[1]
    // T[2 ^ 2] = T[0] = 251, then T[251 ^ 1] = T[250] = 170; forwards would give T[T[2^1]^2] = T[117] = 105.
    expect(loadBalanceHash(Uint8Array.of(1, 2))).toBe(170);
    expect(loadBalanceHash(Uint8Array.of(2, 1))).not.toBe(170);
  });

  test("spreads MACs evenly: 10,000 sequential MACs land 50/50 within 2%", () => {
    const count = [0, 0];
    for (let n = 0; n < 10_000; n++) count[clientHalf(`52:54:00:${[n >> 16, (n >> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, "0")).join(":")}`)]!++;
    expect(count[0]).toBeGreaterThan(4_800);
    expect(count[0]).toBeLessThan(5_200);
  });
});

describe("address halves", () => {
  test("every address has exactly one half, the same from its text and its integer", () => {
    for (const a of LAB_POOL) {
      const h = addressHalf(a);
      expect(h === 0 || h === 1).toBe(true);
      expect(addressHalf(a.split(".").reduce((n, p) => n * 256 + Number(p), 0))).toBe(h);
    }
    const half0 = LAB_POOL.filter((a) => addressHalf(a) === 0);
    const half1 = LAB_POOL.filter((a) => addressHalf(a) === 1);
    expect(half0.filter((a) => half1.includes(a))).toEqual([]); // disjoint
    expect(half0.length + half1.length).toBe(LAB_POOL.length); // and covering
  });

  const split = [0, 1].map((h) => LAB_POOL.filter((a) => addressHalf(a) === h).length);
  test(`the lab pool 198.51.100.100-199 splits about 50/50 (${split[0]}/${split[1]})`, () => {
    expect(split[0]).toBeGreaterThanOrEqual(35);
    expect(split[0]).toBeLessThanOrEqual(65);
  });

  test("an aligned /24 splits exactly 128/128 (the last octet goes through one-to-one lookups)", () => {
    for (const base of [0xc6336400, 0xcb007100, 0x0a000000]) {
      let ones = 0;
      for (let i = 0; i < 256; i++) ones += addressHalf(ipOf(base + i));
      expect(ones).toBe(128);
    }
  });

  test("bad input is an error naming the value", () => {
    expect(() => addressHalf("198.51.100.300")).toThrow('addressHalf: invalid IPv4 address "198.51.100.300"');
    expect(() => addressHalf(-1)).toThrow("addressHalf: invalid IPv4 address -1");
    expect(() => clientHalf("zz:01")).toThrow('clientHalf: invalid MAC "zz:01"');
  });

  test("clientHalf reads any MAC spelling the same", () => {
    expect(clientHalf("52-54-00-AB-CD-EF")).toBe(clientHalf("52:54:00:ab:cd:ef"));
    expect(loadBalanceHash(Uint8Array.of(0x52, 0x54, 0, 0xab, 0xcd, 0xef)) >> 7).toBe(clientHalf("52:54:00:ab:cd:ef"));
  });
});
