import { describe, expect, test } from "bun:test";
import { SocleError } from "../model/errors.ts";
import type { Change } from "../model/object.ts";
import { createLogger } from "../log/logger.ts";
import { emptyLayer } from "./store.ts";
import { ChangeRing, StoreCore, type PendingWrite } from "./store-core.ts";

/** A store whose persistence fails on demand, to test what the core does about it. */
class Flaky extends StoreCore {
  failNext = false;
  batches: number[] = [];
  constructor(lines: string[]) {
    super(emptyLayer(), createLogger({ sink: (l) => lines.push(l) }));
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
});
