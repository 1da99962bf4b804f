import { describe, expect, test } from "bun:test";
import { LeaseLedger } from "./lease-ledger.ts";

const A = "198.51.100.120";
const B = "198.51.100.121";
const M1 = "52:54:00:e2:61:01";
const M2 = "52:54:00:e2:61:02";

describe("LeaseLedger", () => {
  test("a local write is partner-known only once an ack covers its Seq", () => {
    const l = new LeaseLedger();
    l.localWrite(A, { mac: M1, expireMs: 5000 }, 10);
    expect(l.partnerKnown(A)).toBeUndefined();
    expect(l.unsynced(A)).toEqual({ mac: M1, expireMs: 5000 });
    expect(l.unsyncedAddrs()).toEqual([A]);
    l.acked(9);
    expect(l.partnerKnown(A)).toBeUndefined();
    l.acked(10);
    expect(l.partnerKnown(A)).toEqual({ mac: M1, expireMs: 5000 });
    expect(l.unsyncedAddrs()).toEqual([]);
    expect(l.ackedSeq).toBe(10);
  });

  test("a never-acked renewal leaves the older partner-known version in place", () => {
    const l = new LeaseLedger();
    l.seed([[A, { mac: M1, expireMs: 1000 }]]);
    l.localWrite(A, { mac: M1, expireMs: 9000 }, 20); // the sync timed out: no ack ever comes
    expect(l.partnerKnown(A)).toEqual({ mac: M1, expireMs: 1000 });
    expect(l.unsynced(A)?.expireMs).toBe(9000);
  });

  test("a later write supersedes an earlier unacked one; the ack of the earlier does not apply it", () => {
    const l = new LeaseLedger();
    l.localWrite(A, { mac: M1, expireMs: 1000 }, 5);
    l.localWrite(A, { mac: M2, expireMs: 2000 }, 6);
    l.acked(5);
    expect(l.partnerKnown(A)).toBeUndefined();
    l.acked(6);
    expect(l.partnerKnown(A)).toEqual({ mac: M2, expireMs: 2000 });
  });

  test("a local delete, once acked, removes the partner's knowledge", () => {
    const l = new LeaseLedger();
    l.seed([[A, { mac: M1, expireMs: 1000 }]]);
    l.localWrite(A, undefined, 3);
    expect(l.partnerKnown(A)).toEqual({ mac: M1, expireMs: 1000 });
    l.acked(3);
    expect(l.partnerKnown(A)).toBeUndefined();
  });

  test("a change from the partner is known at once and drops this node's unacked version", () => {
    const l = new LeaseLedger();
    l.localWrite(A, { mac: M1, expireMs: 1000 }, 5);
    l.fromPartner(A, { mac: M2, expireMs: 7000 });
    expect(l.partnerKnown(A)).toEqual({ mac: M2, expireMs: 7000 });
    expect(l.unsynced(A)).toBeUndefined();
    l.acked(5);
    expect(l.partnerKnown(A)).toEqual({ mac: M2, expireMs: 7000 });
    l.fromPartner(A, undefined);
    expect(l.partnerKnown(A)).toBeUndefined();
  });

  test("a write whose Seq is already acked is partner-known at once", () => {
    const l = new LeaseLedger();
    l.acked(50);
    l.localWrite(B, { mac: M1, expireMs: 1 }, 49);
    expect(l.partnerKnown(B)).toEqual({ mac: M1, expireMs: 1 });
    expect(l.unsyncedAddrs()).toEqual([]);
  });

  test("stored records are copies", () => {
    const l = new LeaseLedger();
    const lease = { mac: M1, expireMs: 1 };
    l.seed([[A, lease]]);
    lease.expireMs = 99;
    expect(l.partnerKnown(A)?.expireMs).toBe(1);
  });

  test("a long partition renewing the same addresses keeps the pending queue bounded", () => {
    const l = new LeaseLedger();
    let seq = 0;
    for (let round = 0; round < 500; round++) for (let i = 0; i < 100; i++) l.localWrite(`198.51.100.${i}`, { mac: M1, expireMs: round }, ++seq);
    expect(l.unsyncedAddrs()).toHaveLength(100);
    expect(l.pendingWrites).toBeLessThanOrEqual(2 * 100 + 1024 + 1);
    l.acked(seq);
    expect(l.unsyncedAddrs()).toEqual([]);
    expect(l.size).toBe(100);
    expect(l.partnerKnown("198.51.100.7")).toEqual({ mac: M1, expireMs: 499 });
  });

  test("a bad Seq is refused with the address", () => {
    expect(() => new LeaseLedger().localWrite(A, undefined, 0)).toThrow(`invalid seq 0 for ${A}`);
  });
});
