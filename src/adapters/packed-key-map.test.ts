import { expect, test } from "bun:test";
import { PackedKeyMap, packIpv4, packMac } from "./packed-key-map.ts";

test("packMac takes lower-case colon MACs only, one number each", () => {
  expect(packMac("00:00:00:00:00:00")).toBe(0);
  expect(packMac("52:54:00:ab:cd:ef")).toBe(0x525400abcdef);
  expect(packMac("ff:ff:ff:ff:ff:ff")).toBe(2 ** 48 - 1);
  for (const other of ["52:54:00:AB:CD:EF", "52-54-00-ab-cd-ef", "5254.00ab.cdef", "52:54:00:ab:cd:e", "52:54:00:ab:cd:efa", "52:54:00:ab:cd:eg", "", "01:52:54:00:ab:cd:ef"]) {
    expect(packMac(other)).toBeUndefined();
  }
});

test("packIpv4 takes dotted quads without leading zeros only, one number each", () => {
  expect(packIpv4("0.0.0.0")).toBe(0);
  expect(packIpv4("10.16.0.1")).toBe(0x0a100001);
  expect(packIpv4("255.255.255.255")).toBe(2 ** 32 - 1);
  expect(packIpv4("198.51.100.100")).toBe(((198 * 256 + 51) * 256 + 100) * 256 + 100);
  for (const other of ["10.16.0.01", "010.16.0.1", "10.16.0.00", "256.0.0.1", "10.16.0", "10.16.0.1.2", "10..0.1", ".10.16.0", "10.16.0.", "10.16.0.1 ", "2001:db8::1", "1000.0.0.1", ""]) {
    expect(packIpv4(other)).toBeUndefined();
  }
});

test("behaves as a Map under random sets, overwrites and deletes, packed keys and others alike", () => {
  // A tiny key space, so runs collide, wrap round the table's end and are cut by deletes.
  for (const [pack, keyOf] of [
    [packIpv4, (n: number) => (n % 7 === 0 ? `host-${n}` : `10.0.${n >> 8}.${n & 255}`)],
    [packMac, (n: number) => (n % 5 === 0 ? `52:54:00:00:00:${(n & 255).toString(16).toUpperCase().padStart(2, "0")}` : `52:54:00:00:${(n >> 8).toString(16).padStart(2, "0")}:${(n & 255).toString(16).padStart(2, "0")}`)],
  ] as const) {
    let x = 12345;
    const rnd = (n: number) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x % n;
    };
    const got = new PackedKeyMap<number>(pack);
    const want = new Map<string, number>();
    for (let step = 0; step < 60_000; step++) {
      // Grow to a few hundred keys, then shrink, then grow again.
      const space = step < 20_000 ? 600 : step < 40_000 ? 40 : 2000;
      const key = keyOf(rnd(space));
      const op = rnd(6);
      if (op < 2) {
        expect(got.delete(key)).toBe(want.delete(key));
      } else if (op === 2) {
        // setIfAbsent: the value there (unchanged), else set.
        const had = want.get(key);
        expect(got.setIfAbsent(key, step)).toBe(had);
        if (had === undefined) want.set(key, step);
      } else {
        got.set(key, step);
        want.set(key, step);
      }
      if (step % 1000 === 0) {
        expect(got.size).toBe(want.size);
        for (let n = 0; n < 2000; n++) expect(got.get(keyOf(n))).toBe(want.get(keyOf(n)));
      }
    }
  }
});

test("sized for its keys up front, it holds them all without growing wrong", () => {
  const m = new PackedKeyMap<string>(packIpv4, 5000);
  for (let i = 0; i < 5000; i++) m.set(`10.1.${i >> 8}.${i & 255}`, `v${i}`);
  expect(m.size).toBe(5000);
  for (let i = 0; i < 5000; i++) expect(m.get(`10.1.${i >> 8}.${i & 255}`)).toBe(`v${i}`);
  expect(m.get("10.1.200.1")).toBeUndefined();
});
