import { describe, expect, test } from "bun:test";
import { SocleError } from "../model/errors.ts";
import type { Change, ModelObject } from "../model/object.ts";
import { applyPatch } from "../model/json-patch.ts";
import { createLogger } from "../log/logger.ts";
import { emptyLayer } from "./store.ts";
import { EMPTY_LIST, EMPTY_MAP } from "./freeze.ts";
import { ChangeRing, StoreCore, type PendingWrite, type StoreCoreOptions } from "./store-core.ts";

/** A store whose persistence fails on demand, to test what the core does about it. */
class Flaky extends StoreCore {
  failNext = false;
  batches: number[] = [];
  constructor(lines: string[], opts: StoreCoreOptions = {}) {
    super(emptyLayer(), createLogger({ sink: (l) => lines.push(l) }), opts);
  }
  async open() {
    this.markOpen(0);
  }
  async close() {
    await this.beginClose();
    this.markClosed();
  }
  protected async persist(batch: readonly PendingWrite[]) {
    this.batches.push(batch.length);
    await Bun.sleep(1);
    if (this.failNext) throw new Error("EIO: disk on fire");
  }
  protected describe() {
    return "flaky store";
  }
}

describe("StoreCore", () => {
  test("writes issued while a batch is in flight form the next batch (group commit)", async () => {
    const s = new Flaky([]);
    await s.open();
    const first = Array.from({ length: 5 }, (_, i) => s.put("machines", `a${i}`, {}));
    await Bun.sleep(0); // the first batch is now in flight
    const second = Array.from({ length: 7 }, (_, i) => s.put("machines", `b${i}`, {}));
    await Promise.all([...first, ...second]);
    expect(s.batches).toEqual([5, 7]);
  });

  test("a failed persist rejects the batch and later writes as Unavailable, applies nothing, publishes nothing", async () => {
    const lines: string[] = [];
    const s = new Flaky(lines);
    await s.open();
    const seen: Change[] = [];
    s.subscribe((c) => seen.push(c));
    await s.put("machines", "ok", { V: 1 });
    s.failNext = true;
    const results = await Promise.allSettled([s.put("machines", "ok", { V: 2 }), s.put("machines", "x", {})]);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      const e = (r as PromiseRejectedResult).reason as SocleError;
      expect(e).toBeInstanceOf(SocleError);
      expect(e.type).toBe("Unavailable");
      expect(e.message).toContain("EIO: disk on fire");
    }
    expect(s.get("machines", "ok")).toEqual({ V: 1 });
    expect(s.get("machines", "x")).toBeUndefined();
    expect(s.seq).toBe(1);
    expect(seen.length).toBe(1);
    const later = await s.put("machines", "y", {}).catch((e: SocleError) => e);
    expect((later as SocleError).type).toBe("Unavailable");
    expect((later as SocleError).message).toContain("restart to recover");
    expect(lines.filter((l) => l.includes("ERROR")).length).toBe(1);
    await s.close();
  });

  test("a stored object's empty top-level lists and maps are the shared frozen ones; nested and non-empty ones its own", async () => {
    const s = new Flaky([]);
    await s.open();
    const c = await s.put("leases", "198.51.100.7", { Addr: "198.51.100.7", Errors: [], Meta: {}, Tags: ["a"], Deep: { Inner: [] } });
    const got = s.get("leases", "198.51.100.7") as Record<string, unknown>;
    expect(got).toEqual({ Addr: "198.51.100.7", Errors: [], Meta: {}, Tags: ["a"], Deep: { Inner: [] } });
    expect(got.Errors).toBe(EMPTY_LIST);
    expect(got.Meta).toBe(EMPTY_MAP);
    expect(got.Tags).not.toBe(EMPTY_LIST);
    expect((got.Deep as { Inner: unknown[] }).Inner).not.toBe(EMPTY_LIST);
    expect(c.Object?.Errors).toBe(EMPTY_LIST); // the change published holds the same object
    expect(Object.isFrozen(got) && Object.isFrozen(got.Tags) && Object.isFrozen(got.Deep)).toBe(true);
  });

  test("an object put with several empty lists, patched: adding to one list leaves the others empty (the shared empty is not aliased)", async () => {
    const s = new Flaky([]);
    await s.open();
    await s.put("machines", "m1", { Name: "m1", Profiles: [], HardwareAddrs: [], Params: {}, Meta: {} });
    const got = s.get("machines", "m1") as Record<string, unknown>;
    expect(got.Profiles).toBe(got.HardwareAddrs as unknown[]);
    const patched = applyPatch(got, [
      { op: "add", path: "/Profiles/-", value: "p1" },
      { op: "add", path: "/Params/x", value: 1 },
    ]) as Record<string, unknown>;
    expect(patched).toEqual({ Name: "m1", Profiles: ["p1"], HardwareAddrs: [], Params: { x: 1 }, Meta: {} });
    await s.put("machines", "m1", patched as ModelObject);
    expect(s.get("machines", "m1")).toEqual({ Name: "m1", Profiles: ["p1"], HardwareAddrs: [], Params: { x: 1 }, Meta: {} });
  });

  test("writes before open are Unavailable", async () => {
    const s = new Flaky([]);
    const e = await s.put("machines", "a", {}).catch((x: SocleError) => x);
    expect((e as SocleError).type).toBe("Unavailable");
    expect((e as SocleError).message).toContain("not open yet");
  });

  test("a failed persist of replicated changes rejects them as Unavailable and applies nothing", async () => {
    const s = new Flaky([]);
    await s.open();
    s.failNext = true;
    const time = "2026-01-01T00:00:00.000Z";
    const e = await s.applyReplicated([{ Seq: 1, Time: time, Type: "machines", Action: "create", Key: "a", Object: {} }]).catch((x: SocleError) => x);
    expect((e as SocleError).type).toBe("Unavailable");
    expect((e as SocleError).message).toContain("EIO: disk on fire");
    expect(s.seq).toBe(0);
    expect(s.get("machines", "a")).toBeUndefined();
    expect(await s.changesSince(0)).toEqual([]);
    await s.close();
  });
});

function change(seq: number): Change {
  return { Seq: seq, Time: "2026-01-01T00:00:00.000Z", Type: "machines", Action: "create", Key: `k${seq}`, Object: {} };
}

describe("ChangeRing", () => {
  test("holds the newest `capacity` changes and finds them by Seq", () => {
    const ring = new ChangeRing(4);
    expect(ring.firstSeq).toBeUndefined();
    expect(ring.since(0, 10)).toBeUndefined();
    for (let i = 11; i <= 13; i++) ring.push(change(i));
    expect(ring.since(10, 10)?.map((c) => c.Seq)).toEqual([11, 12, 13]);
    expect(ring.since(9, 10)).toBeUndefined(); // Seq 10 was never held
    expect(ring.since(13, 10)).toBeUndefined(); // nothing after the newest: the caller answers []
    for (let i = 14; i <= 19; i++) ring.push(change(i));
    expect(ring.firstSeq).toBe(16);
    expect(ring.since(15, 10)?.map((c) => c.Seq)).toEqual([16, 17, 18, 19]);
    expect(ring.since(17, 1)?.map((c) => c.Seq)).toEqual([18]);
    expect(ring.since(14, 10)).toBeUndefined();
  });

  test("refuses a Seq that does not follow, and a bad capacity", () => {
    const ring = new ChangeRing(2);
    ring.push(change(5));
    expect(() => ring.push(change(7))).toThrow("Seq 7 follows Seq 5");
    expect(() => new ChangeRing(0)).toThrow("not a positive integer");
  });

  test("bounded by bytes too: the oldest go until the rest fits, the newest always stays", () => {
    const ring = new ChangeRing(100, 1000);
    for (let i = 1; i <= 4; i++) ring.push(change(i), 300);
    expect(ring.length).toBe(3); // 4 x 300 > 1000: Seq 1 went
    expect(ring.bytes).toBe(900);
    expect(ring.firstSeq).toBe(2);
    expect(ring.since(1, 10)?.map((c) => c.Seq)).toEqual([2, 3, 4]);
    expect(ring.since(0, 10)).toBeUndefined();
    ring.push(change(5), 700); // 300 + 300 + 300 + 700: two go
    expect(ring.since(3, 10)?.map((c) => c.Seq)).toEqual([4, 5]);
    expect(ring.bytes).toBe(1000);
    ring.push(change(6), 5000); // larger than the bound alone: kept, everything older goes
    expect(ring.length).toBe(1);
    expect(ring.since(5, 10)?.map((c) => c.Seq)).toEqual([6]);
    ring.push(change(7), 10); // 5010 > 1000: the big one goes as soon as a newer change is held
    expect(ring.since(6, 10)?.map((c) => c.Seq)).toEqual([7]);
    expect(ring.since(5, 10)).toBeUndefined();
    ring.push(change(8), 10);
    expect(ring.since(6, 10)?.map((c) => c.Seq)).toEqual([7, 8]);
    expect(ring.bytes).toBe(20);
    expect(() => new ChangeRing(2, 0)).toThrow("not positive");
  });

  test("count and bytes together, across the wrap of the buffer", () => {
    const ring = new ChangeRing(3, 100);
    for (let i = 1; i <= 10; i++) ring.push(change(i), 20);
    expect(ring.since(7, 10)?.map((c) => c.Seq)).toEqual([8, 9, 10]);
    expect(ring.bytes).toBe(60);
    ring.push(change(11), 90);
    expect(ring.since(10, 10)?.map((c) => c.Seq)).toEqual([11]);
    expect(ring.bytes).toBe(90);
    for (let i = 12; i <= 14; i++) ring.push(change(i), 1);
    expect(ring.since(11, 10)?.map((c) => c.Seq)).toEqual([12, 13, 14]);
    expect(ring.bytes).toBe(3);
  });

  test("a store's ring counts each change's JSON: big objects hold fewer changes", async () => {
    const store = new Flaky([], { historyLimit: 1000, historyBytes: 10_000 });
    await store.open();
    const big = "x".repeat(3000);
    for (let i = 0; i < 10; i++) await store.put("machines", `m${i}`, { Big: big });
    expect(await store.changesSince(0, 100)).toBeUndefined(); // Seq 1 is gone (this store keeps no journal)
    const tail = await store.changesSince(7, 100);
    expect(tail?.map((c) => c.Key)).toEqual(["m7", "m8", "m9"]);
    expect(await store.changesSince(6, 100)).toBeUndefined();
    await store.close();
  });

  test("a delete counts the object it still holds", async () => {
    const store = new Flaky([], { historyLimit: 1000, historyBytes: 10_000 });
    await store.open();
    const big = "x".repeat(3000);
    for (let i = 0; i < 3; i++) await store.put("machines", `m${i}`, { Big: big });
    for (let i = 0; i < 3; i++) await store.delete("machines", `m${i}`);
    // Six changes of about 3 KB each: only the newest three fit in 10,000 bytes.
    expect((await store.changesSince(3, 100))?.map((c) => c.Action)).toEqual(["delete", "delete", "delete"]);
    expect(await store.changesSince(2, 100)).toBeUndefined();
    await store.close();
  });
});
