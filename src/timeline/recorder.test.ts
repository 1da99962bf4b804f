import { expect, test } from "bun:test";
import { MAX_TEXT, Timeline, detach, ipv4Number } from "./recorder.ts";
import { Kind, DhcpOutcome, TftpOutcome } from "./kinds.ts";
import { macFromBytes, macFromString, macToString } from "./mac.ts";

const M1 = macFromString("52:54:00:00:00:01")!;
const dhcp = (t: Timeline, mac: number, text = "") => t.record(mac, Kind.Dhcp, 1, DhcpOutcome.Offer, 7, 67, "198.51.100.20", text, "PXEClient", "iPXE", "");

test("MAC spellings: colons, dashes, Cisco dots, bare; anything else is refused", () => {
  const n = 0x525400aabbcc;
  for (const s of ["52:54:00:aa:bb:cc", "52-54-00-AA-BB-CC", "5254.00aa.bbcc", "525400aabbcc", " 52:54:00:AA:bb:cc "]) expect(macFromString(s)).toBe(n);
  for (const s of ["", "52:54:00:aa:bb", "52:54:00:aa:bb:cc:dd", "zz:54:00:aa:bb:cc", "52:5400:aa:bb:cc", "52:54-00:aa:bb:cc:"]) expect(macFromString(s)).toBeUndefined();
  expect(macToString(n)).toBe("52:54:00:aa:bb:cc");
  expect(macToString(0)).toBe("00:00:00:00:00:00");
  expect(macFromBytes(new Uint8Array([0x52, 0x54, 0, 0xaa, 0xbb, 0xcc, 9, 9]))).toBe(n);
  expect(macFromBytes(new Uint8Array([255, 255, 255, 255, 255, 255]))).toBe(2 ** 48 - 1);
});

test("a MAC's events come back in order, fields intact; its ring keeps the newest perMac", () => {
  let now = 1000;
  const t = new Timeline({ perMac: 4, knownMacs: 2, unknownMacs: 2, global: 16, now: () => now++ });
  for (let i = 0; i < 6; i++) dhcp(t, M1, `file-${i}`);
  const rows = t.of(M1);
  expect(rows.map((r) => r.text)).toEqual(["file-2", "file-3", "file-4", "file-5"]);
  expect(rows.map((r) => r.seq)).toEqual([3, 4, 5, 6]);
  expect(rows[0]).toMatchObject({ kind: Kind.Dhcp, type: 1, outcome: DhcpOutcome.Offer, arch: 7, n: 67, addr: "198.51.100.20", a: "PXEClient", b: "iPXE", c: "", mac: M1, at: 1002 });
  expect(t.of(M1 + 1)).toEqual([]);
});

test("a spray of invented MACs evicts only unknown MACs; registered machines keep their events", () => {
  const knownSet = new Set([M1, M1 + 1]);
  const t = new Timeline({ perMac: 4, knownMacs: 2, unknownMacs: 3, global: 64, isKnown: (m) => knownSet.has(m) });
  dhcp(t, M1, "known-1");
  dhcp(t, M1 + 1, "known-2");
  for (let i = 0; i < 500; i++) dhcp(t, 0x0200_0000_0000 + i);
  expect(t.of(M1).map((r) => r.text)).toEqual(["known-1"]);
  expect(t.of(M1 + 1).map((r) => r.text)).toEqual(["known-2"]);
  expect(t.stats()).toMatchObject({ knownMacs: 2, unknownMacs: 3, macs: 5 });
  expect(t.of(0x0200_0000_0000 + 499)).toHaveLength(1);
  expect(t.of(0x0200_0000_0000)).toEqual([]);
  expect(t.stats().evictions).toBe(497);
});

test("second chance: an unknown MAC that keeps talking outlives one that went quiet", () => {
  const t = new Timeline({ perMac: 4, knownMacs: 1, unknownMacs: 2 });
  const busy = 0x0200_0000_0001;
  const quiet = 0x0200_0000_0002;
  dhcp(t, busy);
  dhcp(t, quiet);
  dhcp(t, busy); // touched: passed over once
  dhcp(t, 0x0200_0000_0003); // evicts quiet
  expect(t.of(busy)).toHaveLength(2);
  expect(t.of(quiet)).toEqual([]);
});

test("promote moves a MAC to the known pool with its events; a full known pool gives up its coldest", () => {
  const known = new Set<number>();
  const t = new Timeline({ perMac: 4, knownMacs: 1, unknownMacs: 2, isKnown: (m) => known.has(m) });
  dhcp(t, M1, "before");
  known.add(M1);
  t.promote(M1);
  expect(t.stats()).toMatchObject({ knownMacs: 1, unknownMacs: 0 });
  for (let i = 0; i < 20; i++) dhcp(t, 0x0200_0000_0000 + i);
  expect(t.of(M1).map((r) => r.text)).toEqual(["before"]);
  dhcp(t, M1 + 1);
  t.promote(M1 + 1); // the known pool holds 1: M1 goes
  expect(t.stats()).toMatchObject({ knownMacs: 1 });
  expect(t.of(M1 + 1)).toHaveLength(1);
  expect(t.of(M1)).toEqual([]);
  // the slots stay accounted for: more traffic never fails
  for (let i = 0; i < 50; i++) dhcp(t, 0x0300_0000_0000 + i);
  expect(t.stats().macs).toBe(3);
});

test("since() reads the global ring in order and skips rows reused by another MAC", () => {
  const t = new Timeline({ perMac: 2, knownMacs: 1, unknownMacs: 1, global: 8 });
  for (let i = 0; i < 3; i++) dhcp(t, M1, `a${i}`);
  expect(t.since(0).map((r) => r.text)).toEqual(["a1", "a2"]); // a0's row was reused by a2
  expect(t.since(2).map((r) => r.text)).toEqual(["a2"]);
  for (let i = 0; i < 20; i++) dhcp(t, M1 + 1 + i, `b${i}`); // evicts M1 and more: all older rows gone
  const rows = t.since(0);
  expect(rows.map((r) => r.text)).toEqual(["b19"]);
  expect(rows[0]!.mac).toBe(M1 + 20);
  expect(t.since(0, 0)).toEqual([]);
  expect(t.lastSeq).toBe(23);
});

test("events by address go to the MAC the address was handed to, else holderOf's, else are counted", () => {
  const t = new Timeline({ holderOf: (a) => (a === "198.51.100.9" ? M1 + 9 : undefined) });
  t.learn("198.51.100.5", M1);
  expect(t.recordFrom("198.51.100.5", Kind.Tftp, 0, TftpOutcome.Served, 1234, "ipxe.efi", "complete")).toBeGreaterThan(0);
  expect(t.of(M1)[0]).toMatchObject({ kind: Kind.Tftp, n: 1234, text: "ipxe.efi", addr: "198.51.100.5", note: "complete", a: "", arch: -1 });
  expect(t.recordFrom("198.51.100.9", Kind.Tftp, 0, TftpOutcome.NotFound, 0, "x", "")).toBeGreaterThan(0);
  expect(t.of(M1 + 9)).toHaveLength(1);
  expect(t.recordFrom("203.0.113.1", Kind.Tftp, 0, TftpOutcome.NotFound, 0, "x", "")).toBe(0);
  expect(t.stats().unattributed).toBe(1);
  // an address handed to another MAC moves
  t.learn("198.51.100.5", M1 + 2);
  expect(t.macOf("198.51.100.5")).toBe(M1 + 2);
  t.learn("0.0.0.0", M1);
  expect(t.macOf("0.0.0.0")).toBeUndefined();
});

test("interned strings are bounded: a flood of distinct vendor classes costs old rows their labels, never new rows; what keeps coming stays", () => {
  const t = new Timeline({ internMax: 10 });
  t.record(M1, Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 67, "", "", "PXEClient", "", "");
  for (let i = 0; i < 50; i++) {
    t.record(M1 + 1 + i, Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 67, "", "x".repeat(1000), `vendor-${i}`, "", "");
    t.record(M1 + 100, Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 67, "", "", "PXEClient", "", ""); // seen all along
  }
  expect(t.of(M1 + 50)[0]!.a).toBe("vendor-49"); // the newest is always named
  expect(t.of(M1 + 1)[0]!.a).toBe("(expired)"); // two generations back
  expect(t.of(M1)[0]!.a).toBe("(expired)");
  expect(t.of(M1 + 100).at(-1)!.a).toBe("PXEClient");
  expect(t.of(M1 + 1)[0]!.text.length).toBe(MAX_TEXT);
  expect(t.stats().internExpired).toBeGreaterThan(30);
});

test("a long string is cut and copied: the row does not keep the original alive", () => {
  const t = new Timeline();
  const huge = "p".repeat(16_000);
  t.recordFrom("198.51.100.1", Kind.Http, 1, 2, 404, huge);
  t.learn("198.51.100.1", M1);
  t.recordFrom("198.51.100.1", Kind.Http, 1, 2, 404, huge, huge);
  const row = t.of(M1)[0]!;
  expect(row.text).toBe("p".repeat(MAX_TEXT));
  expect(row.note).toBe("p".repeat(MAX_TEXT));
  expect(detach("short")).toBe("short");
  expect(detach("x".repeat(300)).length).toBe(MAX_TEXT);
});

test("a throwing isKnown or holderOf never breaks recording", () => {
  const t = new Timeline({ isKnown: () => { throw new Error("store closed"); }, holderOf: () => { throw new Error("store closed"); } });
  expect(dhcp(t, M1)).toBe(1);
  expect(t.recordFrom("198.51.100.1", Kind.Http, 1, 1, 200, "/x", "")).toBe(0);
});

test("bad sizes are refused", () => {
  expect(() => new Timeline({ perMac: 6 })).toThrow(/power of two/);
  expect(() => new Timeline({ knownMacs: 0 })).toThrow(/at least 1/);
});

test("IPv4 addresses are kept as numbers and read back as written; anything else as text", () => {
  for (const [s, n] of [["0.0.0.0", 0], ["198.51.100.7", 0xc6336407], ["255.255.255.255", 0xffffffff], ["10.0.0.1", 0x0a000001]] as const) expect(ipv4Number(s)).toBe(n);
  for (const s of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "1.2.3.", ".1.2.3", "1.2.3.4x", "1234.1.1.1", "::1", "a.b.c.d"]) expect(ipv4Number(s)).toBe(-1);
  const t = new Timeline();
  t.record(M1, Kind.Dhcp, 5, DhcpOutcome.Ack, -1, 67, "198.51.100.7", "", "", "", "");
  t.record(M1, Kind.Register, 0, 1, -1, 0, "00000000-0000-4000-8000-000000000001", "n1", "", "", "");
  t.record(M1, Kind.Dhcp, 5, DhcpOutcome.Ack, -1, 67, "0.0.0.0", "", "", "", "");
  t.record(M1, Kind.Dhcp, 5, DhcpOutcome.Nak, -1, 67, "", "", "", "", "");
  expect(t.of(M1).map((r) => r.addr)).toEqual(["198.51.100.7", "00000000-0000-4000-8000-000000000001", "0.0.0.0", ""]);
});

test("random records and promotions keep the books: every held MAC reads back its own newest events, the pools within their caps", () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const known = new Set<number>();
  const t = new Timeline({ perMac: 4, knownMacs: 8, unknownMacs: 5, global: 64, isKnown: (m) => known.has(m) });
  const last = new Map<number, number[]>(); // mac -> the Seqs recorded for it, in order
  for (let i = 0; i < 20_000; i++) {
    const mac = 0x0200_0000_0000 + rnd(40);
    if (rnd(10) === 0) {
      known.add(mac);
      t.promote(mac);
      continue;
    }
    const seq = t.record(mac, Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 67, `198.51.100.${rnd(200)}`, `f${i}`, "", "", "");
    last.set(mac, [...(last.get(mac) ?? []), seq]);
    if (i % 97 === 0) {
      const st = t.stats();
      expect(st.knownMacs).toBeLessThanOrEqual(8);
      expect(st.unknownMacs).toBeLessThanOrEqual(5);
      expect(st.macs).toBe(st.knownMacs + st.unknownMacs);
      for (let m = 0x0200_0000_0000; m < 0x0200_0000_0000 + 40; m++) {
        const rows = t.of(m);
        if (rows.length === 0) continue;
        expect(rows.every((r) => r.mac === m)).toBe(true);
        // the rows held are the newest recorded for it since it last got a slot, in order
        const seqs = rows.map((r) => r.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        expect(last.get(m)!.slice(-seqs.length)).toEqual(seqs);
      }
      for (const r of t.since(0, 64)) expect(t.of(r.mac).some((x) => x.seq === r.seq)).toBe(true);
    }
  }
});

test("the columns start small and grow with the slots taken, never past one place per slot; rows written before a growth read back intact", () => {
  const t = new Timeline({ perMac: 4, knownMacs: 200, unknownMacs: 100, global: 4096 });
  expect(t.rowCapacity).toBe(64 * 4);
  const mac = (i: number) => 0x0200_0000_0000 + i;
  for (let i = 0; i < 64; i++) t.record(mac(i), Kind.Dhcp, 1, DhcpOutcome.Offer, i, i, `198.51.100.${i}`, `first-${i}`, `vc-${i}`, "", "", `n-${i}`);
  expect(t.rowCapacity).toBe(64 * 4);
  t.record(mac(64), Kind.Dhcp, 1, DhcpOutcome.Offer, 64, 64, "198.51.100.64", "first-64", "vc-64", "", "");
  expect(t.rowCapacity).toBe(128 * 4);
  // Only the unknown pool (100 slots) is used by unknown MACs: 100 places at most.
  for (let i = 65; i < 1000; i++) t.record(mac(i), Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 0, "", `first-${i}`, "", "", "");
  expect(t.rowCapacity).toBe(128 * 4);
  expect(t.stats()).toMatchObject({ unknownMacs: 100, evictions: 900 });
  expect(t.of(mac(999))[0]).toMatchObject({ text: "first-999", mac: mac(999) });
  expect(t.of(mac(0))).toEqual([]);
  // Known MACs take the rest; the columns end at exactly one place per slot.
  const known = new Timeline({ perMac: 4, knownMacs: 200, unknownMacs: 100, isKnown: () => true });
  for (let i = 0; i < 64; i++) known.record(mac(i), Kind.Dhcp, 1, DhcpOutcome.Offer, i, i, `198.51.100.${i}`, `file-${i}`, `vc-${i}`, "", "", `n-${i}`);
  for (let i = 64; i < 200; i++) known.record(mac(i), Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 0, "", `file-${i}`, "", "", "");
  expect(known.rowCapacity).toBe(256 * 4); // 64, 128, 256 places
  for (let i = 200; i < 300; i++) known.record(mac(i), Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 0, "", `file-${i}`, "", "", "");
  expect(known.rowCapacity).toBe(256 * 4); // the known pool evicts; the unknown pool's places are never taken
  // The first 64 MACs' rows were written before three growths: they read back intact, by MAC and in the global ring.
  const t2 = new Timeline({ perMac: 4, knownMacs: 300, unknownMacs: 1, isKnown: () => true, global: 4096 });
  for (let i = 0; i < 64; i++) t2.record(mac(i), Kind.Dhcp, 1, DhcpOutcome.Offer, i, i, `198.51.100.${i}`, `file-${i}`, `vc-${i}`, "", "", `n-${i}`);
  for (let i = 64; i < 300; i++) t2.record(mac(i), Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 0, "", `file-${i}`, "", "", "");
  expect(t2.rowCapacity).toBe(301 * 4); // 64, 128, 256, then every slot (300 + 1)
  for (let i = 0; i < 64; i++) {
    expect(t2.of(mac(i))).toEqual([{ seq: i + 1, at: expect.any(Number), mac: mac(i), kind: Kind.Dhcp, type: 1, outcome: DhcpOutcome.Offer, arch: i, n: i, addr: `198.51.100.${i}`, text: `file-${i}`, note: `n-${i}`, a: `vc-${i}`, b: "", c: "" }]);
  }
  expect(t2.since(0, 4096).map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  expect(t2.since(0, 4096).map((r) => r.mac)).toEqual(Array.from({ length: 300 }, (_, i) => mac(i)));
});

test("a promotion that makes the columns grow moves the MAC's events with it", () => {
  const known = new Set<number>();
  const t = new Timeline({ perMac: 4, knownMacs: 100, unknownMacs: 64, isKnown: (m) => known.has(m) });
  const mac = (i: number) => 0x0200_0000_0000 + i;
  for (let i = 0; i < 64; i++) for (let k = 0; k < 3; k++) dhcp(t, mac(i), `u${i}-${k}`);
  expect(t.rowCapacity).toBe(64 * 4);
  known.add(mac(5));
  t.promote(mac(5)); // the first known slot: a 65th place
  expect(t.rowCapacity).toBe(128 * 4);
  expect(t.of(mac(5)).map((r) => r.text)).toEqual(["u5-0", "u5-1", "u5-2"]);
  expect(t.stats()).toMatchObject({ knownMacs: 1, unknownMacs: 63 });
  dhcp(t, mac(5), "after");
  expect(t.of(mac(5)).map((r) => r.text)).toEqual(["u5-0", "u5-1", "u5-2", "after"]);
  // The global ring names rows, so the moved rows drop out of since() (as they always have).
  expect(t.since(0, 1000).filter((r) => r.mac === mac(5)).map((r) => r.text)).toEqual(["after"]);
  // The unknown slot it left is reused by the next new MAC, in the place it already had.
  dhcp(t, mac(500), "new");
  expect(t.rowCapacity).toBe(128 * 4);
  expect(t.of(mac(500)).map((r) => r.text)).toEqual(["new"]);
  expect(t.of(mac(6)).map((r) => r.text)).toEqual(["u6-0", "u6-1", "u6-2"]);
});

test("random records and promotions over more slots than the columns start with keep the books", () => {
  let seed = 777;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((seed / 2 ** 31) * n); // the high bits: an LCG's low bits repeat with a short period
  };
  const known = new Set<number>();
  const t = new Timeline({ perMac: 2, knownMacs: 150, unknownMacs: 90, global: 512, isKnown: (m) => known.has(m) });
  const last = new Map<number, number[]>();
  const base = 0x0200_0000_0000;
  for (let i = 0; i < 30_000; i++) {
    const mac = base + rnd(400);
    if (rnd(20) === 0) {
      known.add(mac);
      t.promote(mac);
      continue;
    }
    const seq = t.record(mac, Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 67, "", `f${i}`, "", "", "");
    last.set(mac, [...(last.get(mac) ?? []).slice(-4), seq]);
    if (i % 1009 === 0 || i === 29_999) {
      expect(t.rowCapacity).toBeLessThanOrEqual(240 * 2);
      for (let m = base; m < base + 400; m++) {
        const rows = t.of(m);
        if (rows.length === 0) continue;
        expect(rows.every((r) => r.mac === m)).toBe(true);
        expect(last.get(m)!.slice(-rows.length)).toEqual(rows.map((r) => r.seq));
      }
      for (const r of t.since(0, 512)) expect(t.of(r.mac).some((x) => x.seq === r.seq && x.text === r.text)).toBe(true);
    }
  }
  expect(t.rowCapacity).toBe(240 * 2);
});
