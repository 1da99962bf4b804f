// One contract suite, many implementations: every Store passes these tests (file-store.test.ts
// and memory-store.test.ts call runStoreContract). Imported only by tests.
//
// makeStore(layer, opts) returns an OPENED store over a fresh data location with `layer` as its
// read-only layer, keeping opts.historyLimit changes in memory (when given) and starting from
// opts.snapshot (when given: FileStore.importSnapshot, MemoryStore's `snapshot`), plus:
// - reopen (stores that persist): a new opened store over the same data and layer; the suite
//   closes the previous store before calling it;
// - compact (stores with a journal): snapshot now and drop the journal the snapshot covers;
//   keepsJournal when nothing else compacts meanwhile;
// - cleanup: removes the data location (the suite closes stores itself).

import { afterEach, describe, expect, test } from "bun:test";
import { SocleError } from "../model/errors.ts";
import type { Change, ModelObject } from "../model/object.ts";
import type { ReadOnlyLayer, Store } from "./store.ts";
import { isReplicaStore, type ReplicaStore, type StoreSnapshot } from "./replica.ts";

export interface ContractSubject {
  store: ReplicaStore;
  reopen?: () => Promise<ReplicaStore>;
  compact?: () => Promise<void>;
  /** Changes stay readable from the journal until compact() (false when compaction runs on its own). */
  keepsJournal?: boolean;
  cleanup: () => Promise<void>;
}

export interface MakeOptions {
  historyLimit?: number;
  snapshot?: StoreSnapshot;
}

export type MakeStore = (layer: ReadOnlyLayer, opts?: MakeOptions) => Promise<ContractSubject>;

function layerOf(entries: Record<string, Record<string, ModelObject>>): ReadOnlyLayer {
  const objects = new Map<string, Map<string, ModelObject>>();
  for (const [type, objs] of Object.entries(entries)) objects.set(type, new Map(Object.entries(objs)));
  return { objects };
}

function isDeepFrozen(v: unknown): boolean {
  if (v === null || typeof v !== "object") return true;
  if (!Object.isFrozen(v)) return false;
  return Object.values(v).every(isDeepFrozen);
}

/** A change as a peer would send it. */
function change(Seq: number, Action: Change["Action"], Type: string, Key: string, Object: ModelObject = {}): Change {
  return { Seq, Time: "2026-01-02T03:04:05.678Z", Type, Action, Key, Object };
}

/** type + key -> object, for comparing a snapshot with replayed changes. */
function replay(changes: readonly Change[]): Map<string, ModelObject> {
  const out = new Map<string, ModelObject>();
  for (const c of changes) {
    if (c.Action === "delete") out.delete(`${c.Type}/${c.Key}`);
    else out.set(`${c.Type}/${c.Key}`, c.Object);
  }
  return out;
}

const MIXED_TYPES = ["machines", "leases", "profiles"];

/**
 * `n` puts and deletes over a few hundred keys of MIXED_TYPES, deterministic, issued in bursts of
 * 1 to 60 awaited together (so group commits of every size), deletes only of keys that exist.
 */
async function mixedWrites(store: Store, n: number): Promise<void> {
  let x = 12345;
  const rand = (m: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % m;
  };
  const live = new Set<string>();
  let done = 0;
  while (done < n) {
    const burst: Promise<Change>[] = [];
    const size = Math.min(n - done, 1 + rand(60));
    for (let i = 0; i < size; i++, done++) {
      const type = MIXED_TYPES[rand(MIXED_TYPES.length)] as string;
      const key = `k${rand(300)}`;
      const id = `${type}/${key}`;
      if (live.has(id) && rand(3) === 0) {
        live.delete(id);
        burst.push(store.delete(type, key));
      } else {
        live.add(id);
        burst.push(store.put(type, key, { N: done, Pad: "p".repeat(rand(40)), Nested: { L: [done, key] } }));
      }
    }
    await Promise.all(burst);
  }
}

async function errorOf(p: Promise<unknown>): Promise<SocleError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SocleError);
    return err as SocleError;
  }
  throw new Error("expected the promise to reject");
}

export function runStoreContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract: ${name}`, () => {
    const open: Store[] = [];
    const cleanups: Array<() => Promise<void>> = [];

    async function make(layer: ReadOnlyLayer = { objects: new Map() }, opts?: MakeOptions): Promise<ContractSubject> {
      const s = await makeStore(layer, opts);
      open.push(s.store);
      cleanups.push(s.cleanup);
      return s;
    }

    async function reopen(s: ContractSubject, current: Store): Promise<ReplicaStore> {
      await current.close();
      const next = await (s.reopen as () => Promise<ReplicaStore>)();
      open.push(next);
      return next;
    }

    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
      for (const c of cleanups.splice(0)) await c();
    });

    test("a new store is empty", async () => {
      const { store } = await make();
      expect(store.seq).toBe(0);
      expect(store.count("machines")).toBe(0);
      expect(store.list("machines")).toEqual([]);
      expect(store.get("machines", "m1")).toBeUndefined();
    });

    test("put creates, then updates; get returns a deep-frozen copy", async () => {
      const { store } = await make();
      const input = { Name: "m1", Params: { a: [1, 2] } };
      const c1 = await store.put("machines", "m1", input);
      expect(c1.Action).toBe("create");
      expect(c1.Seq).toBe(1);
      expect(c1.Type).toBe("machines");
      expect(c1.Key).toBe("m1");
      expect(c1.Object).toEqual(input);
      expect(Number.isNaN(Date.parse(c1.Time))).toBe(false);
      input.Params.a.push(3); // the caller's object is not the stored one
      const got = store.get("machines", "m1");
      expect(got).toEqual({ Name: "m1", Params: { a: [1, 2] } });
      expect(isDeepFrozen(got)).toBe(true);
      expect(Object.isFrozen(input)).toBe(false);
      const c2 = await store.put("machines", "m1", { Name: "m1", Params: {} });
      expect(c2.Action).toBe("update");
      expect(c2.Seq).toBe(2);
      expect(store.get("machines", "m1")).toEqual({ Name: "m1", Params: {} });
      expect(store.seq).toBe(2);
    });

    test("delete returns the object as it was; deleting an absent key is NotFound", async () => {
      const { store } = await make();
      await store.put("machines", "m1", { Name: "m1" });
      const c = await store.delete("machines", "m1");
      expect(c.Action).toBe("delete");
      expect(c.Object).toEqual({ Name: "m1" });
      expect(store.get("machines", "m1")).toBeUndefined();
      expect(store.count("machines")).toBe(0);
      const e = await errorOf(store.delete("machines", "m1"));
      expect(e.type).toBe("NotFound");
      expect(e.message).toContain('"m1"');
      expect((await errorOf(store.delete("profiles", "never"))).type).toBe("NotFound");
    });

    test("writes issued together apply in call order (put then delete, delete then put)", async () => {
      const { store } = await make();
      const [a, b, c] = await Promise.all([
        store.put("machines", "k", { V: 1 }),
        store.delete("machines", "k"),
        store.put("machines", "k", { V: 2 }),
      ]);
      expect([a.Action, b.Action, c.Action]).toEqual(["create", "delete", "create"]);
      expect(store.get("machines", "k")).toEqual({ V: 2 });
      const second = store.delete("machines", "k");
      const third = errorOf(store.delete("machines", "k")); // checked against the pending delete
      await second;
      expect((await third).type).toBe("NotFound");
    });

    test("Seq is monotonic, one per change, in call order", async () => {
      const { store } = await make();
      const writes: Promise<Change>[] = [];
      for (let i = 0; i < 200; i++) writes.push(store.put(i % 2 ? "leases" : "machines", `k${i % 37}`, { I: i }));
      const changes = await Promise.all(writes);
      changes.forEach((c, i) => expect(c.Seq).toBe(i + 1));
      expect(store.seq).toBe(200);
      const d = await store.delete("machines", "k0");
      expect(d.Seq).toBe(201);
    });

    test("the change feed delivers each change once, in Seq order, after it is visible", async () => {
      const { store } = await make();
      const seen: Change[] = [];
      const visible: boolean[] = [];
      const unsubscribe = store.subscribe((c) => {
        seen.push(c);
        visible.push(store.seq === c.Seq && (c.Action === "delete") === (store.get(c.Type, c.Key) === undefined));
      });
      const thrower = store.subscribe(() => {
        throw new Error("subscriber bug");
      });
      const writes: Promise<Change>[] = [];
      for (let i = 0; i < 50; i++) writes.push(store.put("machines", `m${i % 10}`, { I: i }));
      writes.push(store.delete("machines", "m3"));
      const results = await Promise.all(writes);
      expect(seen.map((c) => c.Seq)).toEqual(results.map((c) => c.Seq));
      expect(seen.at(-1)?.Action).toBe("delete");
      expect(visible.every(Boolean)).toBe(true);
      unsubscribe();
      thrower();
      await store.put("machines", "after", {});
      expect(seen.length).toBe(51);
    });

    test("read-only layer: visible with ReadOnly true, cannot be written, deleted or shadowed", async () => {
      const shipped = { Name: "local", OS: { Name: "local" }, ReadOnly: false };
      const layer = layerOf({ bootenvs: { local: shipped, discovery: { Name: "discovery" } } });
      const { store } = await make(layer);
      const got = store.get("bootenvs", "local");
      expect(got?.ReadOnly).toBe(true);
      expect(got?.OS).toEqual({ Name: "local" });
      expect(isDeepFrozen(got)).toBe(true);
      expect(shipped.ReadOnly).toBe(false); // the layer itself is not modified
      expect(store.count("bootenvs")).toBe(2);
      const put = await errorOf(store.put("bootenvs", "local", { Name: "local" }));
      expect(put.type).toBe("Conflict");
      expect(put.message).toContain("is read-only (shipped content)");
      const del = await errorOf(store.delete("bootenvs", "discovery"));
      expect(del.type).toBe("Conflict");
      expect(del.message).toContain("is read-only (shipped content)");
      expect(store.seq).toBe(0);
      // A writable object of the same type with another key is fine.
      await store.put("bootenvs", "custom", { Name: "custom" });
      expect(store.get("bootenvs", "custom")?.ReadOnly).toBeUndefined();
    });

    test("list: read-only objects first, then writable, each in key order; count matches", async () => {
      const layer = layerOf({ profiles: { zeta: { Name: "zeta" }, global: { Name: "global" } } });
      const { store } = await make(layer);
      for (const k of ["m", "b", "y", "a", "c"]) await store.put("profiles", k, { Name: k });
      await Promise.all(["q", "d", "x"].map((k) => store.put("profiles", k, { Name: k })));
      const names = () => store.list("profiles").map((o) => o.Name);
      expect(names()).toEqual(["global", "zeta", "a", "b", "c", "d", "m", "q", "x", "y"]);
      await store.delete("profiles", "c");
      await store.put("profiles", "ab", { Name: "ab" });
      expect(names()).toEqual(["global", "zeta", "a", "ab", "b", "d", "m", "q", "x", "y"]);
      expect(store.count("profiles")).toBe(10);
      const listed = store.list("profiles");
      listed.reverse(); // callers may reorder the array they got
      expect(names()[0]).toBe("global");
      expect(store.list("machines")).toEqual([]);
    });

    test("scanField: the field of every object list has, puts and deletes included, before and after reopen; values frozen", async () => {
      const layer = layerOf({ profiles: { global: { Name: "global", Tags: ["shipped"] } } });
      const s = await make(layer);
      let store = s.store;
      await store.put("profiles", "b", { Name: "b", Tags: ["x", { Deep: ["y"] }] });
      await store.put("profiles", "a", { Name: "a" });
      await store.put("profiles", "c", { Name: "c", Tags: [] });
      const scan = (field: string, freeze = true) => {
        const out = new Map<string, unknown>();
        store.scanField(
          "profiles",
          field,
          (key, value) => {
            expect(out.has(key)).toBe(false);
            out.set(key, value);
          },
          { freeze },
        );
        return out;
      };
      const fromList = (field: string) => new Map(store.list("profiles").map((o) => [String(o.Name), o[field]]));
      const check = () => {
        // Unfrozen (freeze: false) or not, the same values.
        for (const field of ["Name", "Tags", "Missing"]) expect(scan(field, false)).toEqual(fromList(field));
        for (const field of ["Name", "Tags", "Missing"]) expect(scan(field)).toEqual(fromList(field));
        for (const v of scan("Tags").values()) expect(isDeepFrozen(v)).toBe(true);
      };
      check();
      expect(scan("Tags").get("global")).toEqual(["shipped"]); // read-only layer included
      // Changes after open are seen.
      await store.delete("profiles", "a");
      await store.put("profiles", "d", { Name: "d", Tags: ["new"] });
      await store.put("profiles", "b", { Name: "b", Tags: ["changed"] });
      check();
      expect([...scan("Name").keys()].sort()).toEqual(["b", "c", "d", "global"]);
      if (s.reopen) {
        // Objects loaded at open (not frozen yet: the background pass waits FREEZE_DELAY_MS): a
        // value handed over cannot be changed, and the objects read afterwards are whole and frozen.
        store = await reopen(s, store);
        await store.put("profiles", "e", { Name: "e", Tags: [{ Deep: ["z"] }] });
        check();
        const tags = scan("Tags");
        expect(() => (tags.get("b") as string[]).push("mutated")).toThrow();
        expect(() => ((tags.get("e") as Array<{ Deep: string[] }>)[0] as { Deep: string[] }).Deep.push("mutated")).toThrow();
        expect(store.get("profiles", "b")).toEqual({ Name: "b", Tags: ["changed"] });
        expect(store.list("profiles").every(isDeepFrozen)).toBe(true);
        await store.delete("profiles", "c");
        check();
      }
      // Names every object inherits are refused rather than read from Object.prototype.
      for (const field of ["constructor", "__proto__", "toString"]) expect(() => store.scanField("profiles", field, () => {})).toThrow("every object inherits");
      expect(Object.isFrozen(Object.prototype)).toBe(false);
      const none: string[] = [];
      store.scanField("machines", "Name", (key) => none.push(key));
      expect(none).toEqual([]);
    });

    test("types are independent", async () => {
      const { store } = await make();
      await store.put("machines", "x", { T: "m" });
      await store.put("leases", "x", { T: "l" });
      expect(store.get("machines", "x")).toEqual({ T: "m" });
      expect(store.get("leases", "x")).toEqual({ T: "l" });
      await store.delete("leases", "x");
      expect(store.count("machines")).toBe(1);
      expect(store.count("leases")).toBe(0);
    });

    test("bad input is a BadRequest, never a crash", async () => {
      const { store } = await make();
      const cyclic: ModelObject = {};
      cyclic.self = cyclic;
      const cases: Array<Promise<Change>> = [
        store.put("machines", "k", null as unknown as ModelObject),
        store.put("machines", "k", [] as unknown as ModelObject),
        store.put("machines", "k", "text" as unknown as ModelObject),
        store.put("machines", "", {}),
        store.put("machines", 7 as unknown as string, {}),
        store.put("Machines!", "k", {}),
        store.put("machines", "k", cyclic),
        store.put("machines", "k", { n: 10n } as unknown as ModelObject),
        store.delete("", "k"),
        store.delete("machines", "x".repeat(5000)),
      ];
      for (const p of cases) expect((await errorOf(p)).type).toBe("BadRequest");
      expect(store.seq).toBe(0);
      const ok = await store.put("machines", "k", { Nested: { Undef: undefined, A: 1 } });
      expect(ok.Object).toEqual({ Nested: { A: 1 } });
    });

    test("writes after close are Unavailable", async () => {
      const { store } = await make();
      await store.put("machines", "a", {});
      await store.close();
      expect((await errorOf(store.put("machines", "b", {}))).type).toBe("Unavailable");
      expect((await errorOf(store.delete("machines", "a"))).type).toBe("Unavailable");
    });

    test("close waits for writes already issued", async () => {
      const s = await make();
      const writes = Array.from({ length: 20 }, (_, i) => s.store.put("machines", `m${i}`, { I: i }));
      await s.store.close();
      const done = await Promise.all(writes);
      expect(done.at(-1)?.Seq).toBe(20);
      if (s.reopen) {
        const again = await s.reopen();
        open.push(again);
        expect(again.count("machines")).toBe(20);
      }
    });

    test("persistence across reopen (stores that persist)", async () => {
      const layer = layerOf({ bootenvs: { local: { Name: "local" } } });
      const s = await make(layer);
      if (!s.reopen) return;
      let store = s.store;
      await store.put("machines", "m1", { Name: "m1", Tags: ["a"] });
      await store.put("machines", "m2", { Name: "m2" });
      await store.put("machines", "m1", { Name: "m1", Tags: ["b"] });
      await store.delete("machines", "m2");
      await store.put("bootenvs", "mine", { Name: "mine" });
      store = await reopen(s, store);
      expect(store.seq).toBe(5);
      expect(store.get("machines", "m1")).toEqual({ Name: "m1", Tags: ["b"] });
      expect(store.get("machines", "m2")).toBeUndefined();
      expect(store.list("bootenvs").map((b) => b.Name)).toEqual(["local", "mine"]);
      expect(store.get("bootenvs", "local")?.ReadOnly).toBe(true);
      expect(isDeepFrozen(store.get("machines", "m1"))).toBe(true);
      const next = await store.put("machines", "m3", {});
      expect(next.Seq).toBe(6);
    });

    test("Seq is not reused after reopen, even when compaction dropped every change", async () => {
      const s = await make();
      if (!s.reopen) return;
      let store = s.store;
      for (let i = 0; i < 5; i++) await store.put("machines", `m${i}`, { I: i });
      for (let i = 0; i < 5; i++) await store.delete("machines", `m${i}`);
      store = await reopen(s, store); // close compacts
      expect(store.seq).toBe(10);
      expect(store.count("machines")).toBe(0);
      store = await reopen(s, store); // nothing new: still 10
      expect(store.seq).toBe(10);
      expect((await store.put("machines", "m", {})).Seq).toBe(11);
    });
    test("is a ReplicaStore", async () => {
      const { store } = await make();
      expect(isReplicaStore(store)).toBe(true);
    });

    test("applyReplicated: the peer's changes keep their Seq and Time, and are published in order once visible", async () => {
      const peer = (await make()).store;
      const replica = (await make()).store;
      const sent: Change[] = [];
      peer.subscribe((c) => sent.push(c));
      await peer.put("machines", "m1", { Name: "m1" });
      await peer.put("machines", "m2", { Name: "m2" });
      await peer.put("machines", "m1", { Name: "m1", V: 2 });
      await peer.delete("machines", "m2");
      await peer.put("leases", "198.51.100.7", { Addr: "198.51.100.7" });
      // Another node's clock: the Time is kept, never stamped again.
      const stream = sent.map((c, i) => ({ ...c, Time: `2020-01-0${i + 1}T00:00:00.000Z` }));
      const seen: Change[] = [];
      const visible: boolean[] = [];
      replica.subscribe((c) => {
        seen.push(c);
        visible.push(replica.seq === c.Seq && (c.Action === "delete") === (replica.get(c.Type, c.Key) === undefined));
      });
      // A list may follow one still in flight.
      await Promise.all([replica.applyReplicated(stream.slice(0, 2)), replica.applyReplicated(stream.slice(2))]);
      expect(seen).toEqual(stream);
      expect(visible.every(Boolean)).toBe(true);
      expect(isDeepFrozen(seen[0])).toBe(true);
      expect(replica.seq).toBe(5);
      expect(replica.get("machines", "m1")).toEqual({ Name: "m1", V: 2 });
      expect(replica.get("machines", "m2")).toBeUndefined();
      expect(await replica.changesSince(0)).toEqual(stream);
      await replica.applyReplicated([]);
      expect((await replica.put("machines", "m3", {})).Seq).toBe(6);
    });

    test("applyReplicated refuses a gap, a broken list, a replay, a read-only key, a diverged key and bad input, changing nothing", async () => {
      const { store } = await make(layerOf({ bootenvs: { local: { Name: "local" } } }));
      await store.applyReplicated([change(1, "create", "machines", "a", { A: 1 }), change(2, "create", "machines", "b")]);
      const seen: Change[] = [];
      store.subscribe((c) => seen.push(c));
      const conflicts: Array<[Change[], string]> = [
        [[change(4, "create", "machines", "c")], "replication gap: store is at Seq 2, change has Seq 4"],
        [[change(3, "create", "machines", "c"), change(5, "create", "machines", "d")], "change #2 has Seq 5 after Seq 3"],
        [[change(2, "update", "machines", "b")], "replication gap: store is at Seq 2, change has Seq 2"],
        [[change(3, "update", "bootenvs", "local")], "read-only (shipped content)"],
        [[change(3, "delete", "bootenvs", "local")], "read-only (shipped content)"],
        [[change(3, "create", "machines", "a")], 'create machines "a" but it exists here'],
        [[change(3, "update", "machines", "zz")], 'update machines "zz" but it does not exist here'],
        [[change(3, "delete", "machines", "c"), change(4, "create", "machines", "c"), change(5, "delete", "machines", "zz")], 'delete machines "c" but it does not exist here'],
        [[change(3, "delete", "machines", "a"), change(4, "update", "machines", "a")], 'update machines "a" but it does not exist here'],
      ];
      for (const [list, msg] of conflicts) {
        const e = await errorOf(store.applyReplicated(list));
        expect(e.type).toBe("Conflict");
        expect(e.message).toContain(msg);
      }
      const bad: Array<[Change, string]> = [
        [{ ...change(4, "create", "machines", "c"), Time: "yesterday" }, 'Seq 4: "Time" "yesterday" is not an ISO-8601 time'],
        [{ ...change(4, "create", "machines", "c"), Action: "upsert" as Change["Action"] }, '"Action" "upsert"'],
        [change(4, "create", "Machines!", "c"), 'invalid store type "Machines!"'],
        [change(4, "create", "machines", ""), 'invalid key ""'],
        [{ ...change(4, "create", "machines", "c"), Object: null as unknown as ModelObject }, '"Object" null is not a JSON object'],
        [{ ...change(4, "create", "machines", "c"), Seq: "4" as unknown as number }, 'change #2: "Seq" "4" is not an integer'],
      ];
      for (const [c, msg] of bad) {
        // The good first change is not applied either: a refused list changes nothing.
        const e = await errorOf(store.applyReplicated([change(3, "create", "machines", "ok"), c]));
        expect(e.type).toBe("BadRequest");
        expect(e.message).toContain(msg);
      }
      expect(store.seq).toBe(2);
      expect(seen).toEqual([]);
      expect(store.list("machines")).toEqual([{ A: 1 }, {}]);
      await store.applyReplicated([change(3, "create", "machines", "c")]);
      expect(store.get("machines", "c")).toEqual({});
      await store.close();
      expect((await errorOf(store.applyReplicated([change(4, "create", "machines", "d")]))).type).toBe("Unavailable");
    });

    test("applyReplicated is refused while a local write is pending", async () => {
      const { store } = await make();
      await store.put("machines", "a", {});
      const pending = store.put("machines", "b", {});
      const e = await errorOf(store.applyReplicated([change(2, "create", "machines", "c")]));
      expect(e.type).toBe("Conflict");
      expect(e.message).toContain("1 local write(s) pending (store is at Seq 1, numbered up to Seq 2)");
      expect((await pending).Seq).toBe(2);
      expect(store.get("machines", "c")).toBeUndefined();
      await store.applyReplicated([change(3, "create", "machines", "c")]);
      expect(store.seq).toBe(3);
    });

    test("changesSince: from 0, from the middle, with a limit, at and past the tip", async () => {
      const { store } = await make();
      const published: Change[] = [];
      store.subscribe((c) => published.push(c));
      for (let i = 0; i < 30; i++) {
        if (i % 4 === 3) await store.delete("machines", `m${i - 2}`);
        else await store.put(i % 2 ? "machines" : "leases", `m${i}`, { I: i });
      }
      expect(await store.changesSince(0)).toEqual(published);
      expect(await store.changesSince(10)).toEqual(published.slice(10));
      expect(await store.changesSince(10, 5)).toEqual(published.slice(10, 15));
      expect(await store.changesSince(30)).toEqual([]);
      expect(await store.changesSince(31)).toBeUndefined();
      await Promise.all(Array.from({ length: 1005 }, (_, i) => store.put("leases", `l${i}`, {})));
      expect((await store.changesSince(0))?.length).toBe(1000); // the default limit
      expect((await store.changesSince(1000))?.map((c) => c.Seq)).toEqual(Array.from({ length: 35 }, (_, i) => 1001 + i));
      for (const [seq, limit] of [[-1, 10], [1.5, 10], [Number.NaN, 10], [0, 0], [0, 2.5]] as const) {
        expect((await errorOf(store.changesSince(seq, limit))).type).toBe("BadRequest");
      }
    });

    test("changesSince beyond the in-memory history: from the journal while it holds them, else undefined", async () => {
      const s = await make(undefined, { historyLimit: 10 });
      const { store } = s;
      const published: Change[] = [];
      store.subscribe((c) => published.push(c));
      for (let i = 0; i < 30; i++) {
        if (i % 5 === 4) await store.delete("machines", `m${i - 1}`);
        else await store.put("machines", `m${i}`, { I: i, T: [i] });
      }
      // The ring holds 21..30.
      expect(await store.changesSince(25)).toEqual(published.slice(25));
      expect(await store.changesSince(20)).toEqual(published.slice(20));
      if (s.keepsJournal) {
        expect(await store.changesSince(5, 100)).toEqual(published.slice(5));
        expect(await store.changesSince(0, 3)).toEqual(published.slice(0, 3));
        expect(await store.changesSince(18, 4)).toEqual(published.slice(18, 22));
      } else if (!s.compact) {
        expect(await store.changesSince(5)).toBeUndefined();
        expect(await store.changesSince(19)).toBeUndefined();
      }
      if (s.compact) {
        await s.compact();
        expect(await store.changesSince(5)).toBeUndefined();
        expect(await store.changesSince(19)).toBeUndefined();
        expect(await store.changesSince(20)).toEqual(published.slice(20));
        await store.put("machines", "after", {});
        expect(await store.changesSince(29)).toEqual(published.slice(29));
      }
    });

    test("exportSnapshot: every writable object as of one Seq, while writes go on", async () => {
      const { store } = await make(layerOf({ bootenvs: { local: { Name: "local" } } }));
      const published: Change[] = [];
      store.subscribe((c) => published.push(c));
      await Promise.all(Array.from({ length: 6000 }, (_, i) => store.put(i % 2 ? "machines" : "leases", `k${i}`, { I: i })));
      await store.put("bootenvs", "mine", { Name: "mine" });
      const writer = (async () => {
        for (let i = 0; i < 400; i++) {
          const n = (i * 7) % 6000;
          const type = n % 2 ? "machines" : "leases";
          if (i % 3 === 0) await store.delete(type, `k${n}`);
          else await store.put(type, `k${n}`, { I: n, Again: i });
          // The memory store commits in microtasks: let the export's turns interleave.
          if (i % 5 === 4) await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      let exporting = true;
      let committedDuring = 0;
      store.subscribe(() => {
        if (exporting) committedDuring++;
      });
      const snap = await store.exportSnapshot();
      exporting = false;
      await writer;
      expect(snap.seq).toBeGreaterThan(6001);
      expect(snap.seq).toBeLessThan(store.seq);
      expect(committedDuring).toBeGreaterThan(0);
      const got = new Map(snap.entries.map((e) => [`${e.Type}/${e.Key}`, e.Object]));
      expect(got.size).toBe(snap.entries.length);
      expect(got).toEqual(replay(published.filter((c) => c.Seq <= snap.seq)));
      expect(got.has("bootenvs/local")).toBe(false); // read-only content never travels
      expect(got.get("bootenvs/mine")).toEqual({ Name: "mine" });
    });

    test("a snapshot loads into a new store: same objects and Seq, then the peer's changes and local numbering follow on", async () => {
      const layer = layerOf({ profiles: { global: { Name: "global" } } });
      const peer = (await make(layer)).store;
      await mixedWrites(peer, 400);
      const snap = await peer.exportSnapshot();
      const s = await make(layer, { snapshot: snap });
      let copy = s.store;
      expect(copy.seq).toBe(peer.seq);
      for (const t of [...MIXED_TYPES, "bootenvs"]) expect(copy.list(t)).toEqual(peer.list(t));
      expect(copy.get("profiles", "global")?.ReadOnly).toBe(true);
      expect(await copy.changesSince(snap.seq)).toEqual([]);
      expect(await copy.changesSince(snap.seq - 1)).toBeUndefined();
      const more: Change[] = [];
      peer.subscribe((c) => more.push(c));
      await peer.put("machines", "new", { New: true });
      await peer.delete("machines", "new");
      await peer.put("leases", "after", {});
      await copy.applyReplicated(more);
      if (s.reopen) copy = await reopen(s, copy);
      expect(copy.seq).toBe(peer.seq);
      for (const t of MIXED_TYPES) expect(copy.list(t)).toEqual(peer.list(t));
      expect((await copy.put("machines", "local", {})).Seq).toBe(peer.seq + 1);
    });

    test("a store replaying a peer's 5,000 mixed changes ends identical to it, Seq numbers included", async () => {
      const s = await make();
      const peer = (await make()).store;
      let replica = s.store;
      const fromPeer: Change[] = [];
      const fromReplica: Change[] = [];
      peer.subscribe((c) => fromPeer.push(c));
      replica.subscribe((c) => fromReplica.push(c));
      await mixedWrites(peer, 5000);
      // Pages read like a standby catching up, each applied without waiting for the one before.
      const applying: Promise<void>[] = [];
      for (let cursor = 0; cursor < peer.seq; ) {
        const page = await peer.changesSince(cursor, 700);
        if (!page) throw new Error(`peer lost its history after Seq ${cursor}`);
        applying.push(replica.applyReplicated(page));
        cursor = (page.at(-1) as Change).Seq;
      }
      await Promise.all(applying);
      expect(replica.seq).toBe(5000);
      expect(fromReplica).toEqual(fromPeer);
      for (const t of MIXED_TYPES) expect(replica.list(t)).toEqual(peer.list(t));
      if (s.reopen) {
        replica = await reopen(s, replica);
        expect(replica.seq).toBe(5000);
        for (const t of MIXED_TYPES) expect(replica.list(t)).toEqual(peer.list(t));
        expect((await replica.put("machines", "local", {})).Seq).toBe(5001);
      }
    });
  });
}
