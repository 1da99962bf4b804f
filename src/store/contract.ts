// One contract suite, many implementations: every Store passes these tests (file-store.test.ts
// and memory-store.test.ts call runStoreContract). Imported only by tests.
//
// makeStore(layer) returns an OPENED store over a fresh, empty data location with `layer` as its
// read-only layer, plus:
// - reopen (stores that persist): a new opened store over the same data and layer; the suite
//   closes the previous store before calling it;
// - cleanup: removes the data location (the suite closes stores itself).

import { afterEach, describe, expect, test } from "bun:test";
import { SocleError } from "../model/errors.ts";
import type { Change, ModelObject } from "../model/object.ts";
import type { ReadOnlyLayer, Store } from "./store.ts";

export interface ContractSubject {
  store: Store;
  reopen?: () => Promise<Store>;
  cleanup: () => Promise<void>;
}

export type MakeStore = (layer: ReadOnlyLayer) => Promise<ContractSubject>;

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

    async function make(layer: ReadOnlyLayer = { objects: new Map() }): Promise<ContractSubject> {
      const s = await makeStore(layer);
      open.push(s.store);
      cleanups.push(s.cleanup);
      return s;
    }

    async function reopen(s: ContractSubject, current: Store): Promise<Store> {
      await current.close();
      const next = await (s.reopen as () => Promise<Store>)();
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
  });
}
