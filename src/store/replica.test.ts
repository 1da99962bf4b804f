import { describe, expect, test } from "bun:test";
import { FailingStore } from "./failing-store.ts";
import { MemoryStore, openMemoryStore } from "./memory-store.ts";
import { isReplicaStore, type StoreSnapshot } from "./replica.ts";
import { checkSnapshot } from "./store-core.ts";

describe("replica", () => {
  test("isReplicaStore tells the stores that can follow a peer from those that cannot", async () => {
    expect(isReplicaStore(new MemoryStore())).toBe(true);
    expect(isReplicaStore(new FailingStore())).toBe(false);
  });

  test("checkSnapshot names the entry and field that is wrong", () => {
    expect(() => checkSnapshot({ seq: 0, entries: [] })).not.toThrow();
    expect(() => checkSnapshot(null as unknown as StoreSnapshot)).toThrow("not an object");
    expect(() => checkSnapshot({ seq: 1.5, entries: [] })).toThrow('"seq" 1.5 is not a non-negative integer');
    expect(() => checkSnapshot({ seq: 2, entries: [null as never] })).toThrow("Seq 2: entry #1 is not an object");
    expect(() => checkSnapshot({ seq: 2, entries: [{ Type: "machines", Key: "k", Object: "x" as never }] })).toThrow('"Object" is not a JSON object');
  });

  test("a memory store starts from a snapshot, checked when made, and keeps its own copies", async () => {
    expect(() => new MemoryStore({ snapshot: { seq: 1, entries: [{ Type: "", Key: "k", Object: {} }] } })).toThrow('invalid store type ""');
    const obj = { Name: "m1", Tags: ["a"] };
    const snap: StoreSnapshot = { seq: 40, entries: [{ Type: "machines", Key: "m1", Object: obj }] };
    const s = await openMemoryStore({ snapshot: snap });
    obj.Tags.push("b");
    expect(s.seq).toBe(40);
    expect(s.get("machines", "m1")).toEqual({ Name: "m1", Tags: ["a"] });
    expect(Object.isFrozen(s.get("machines", "m1"))).toBe(true);
    expect((await s.put("machines", "m2", {})).Seq).toBe(41);
    await s.close();
  });
});
