import { describe, expect, test } from "bun:test";
import type { ModelObject } from "../model/object.ts";
import { LayeredState } from "./layered-state.ts";
import { deepFreeze } from "./freeze.ts";

function viewContents(s: LayeredState, run: (view: ReturnType<LayeredState["beginView"]>) => void) {
  const view = s.beginView();
  run(view);
  const out: Record<string, Record<string, ModelObject>> = {};
  for (const type of view.types) {
    out[type] = {};
    for (const [k, v] of view.entries(type)) (out[type] as Record<string, ModelObject>)[k] = v;
  }
  view.end();
  return out;
}

describe("LayeredState", () => {
  test("a view stays consistent under random changes while it is read", () => {
    for (let round = 0; round < 30; round++) {
      const s = new LayeredState({ objects: new Map() });
      const at = new Map<string, ModelObject>();
      let x = round * 7 + 1;
      const rnd = (n: number) => {
        x = (x * 1103515245 + 12345) % 2147483648;
        return x % n;
      };
      for (let i = 0; i < 40; i++) {
        const k = `k${rnd(60)}`;
        const o = deepFreeze({ V: i });
        s.apply("t", k, o, round % 2 === 0);
        at.set(k, o);
      }
      const view = s.beginView();
      const got = new Map<string, ModelObject>();
      for (const [k, v] of view.entries("t")) {
        expect(got.has(k)).toBe(false);
        got.set(k, v);
        for (let j = 0; j < 3; j++) {
          const key = `k${rnd(80)}`;
          s.apply("t", key, rnd(3) === 0 ? null : deepFreeze({ V: 1000 + j }));
        }
      }
      view.end();
      expect(got).toEqual(at);
      if (round % 2 === 0) {
        const listed = s.list("t");
        expect(listed.every((o) => Object.isFrozen(o))).toBe(true);
      }
    }
  });

  test("loaded objects are frozen in the background, and on first read before that", async () => {
    const s = new LayeredState({ objects: new Map() });
    const loaded = Array.from({ length: 3000 }, (_, i) => ({ I: i, Nested: { A: [i] } }));
    loaded.forEach((o, i) => s.apply("t", `k${i}`, o, true));
    s.finishLoad();
    expect(Object.isFrozen(loaded[5])).toBe(false);
    expect(Object.isFrozen(s.get("t", "k5")?.Nested)).toBe(true);
    await s.freezeInBackground(0);
    expect(loaded.every((o) => Object.isFrozen(o) && Object.isFrozen(o.Nested.A))).toBe(true);
  });

  test("a view is the state at its point, whatever changes while it is read", () => {
    const s = new LayeredState({ objects: new Map() });
    for (let i = 0; i < 10; i++) s.apply("machines", `m${i}`, deepFreeze({ I: i }));
    const view = s.beginView();
    const got: Record<string, ModelObject> = {};
    let n = 0;
    // Interleave changes with reading: update, delete, re-create, create new keys and types.
    for (const [k, v] of view.entries("machines")) {
      got[k] = v;
      if (n === 2) {
        s.apply("machines", "m0", deepFreeze({ I: 100 })); // already read
        s.apply("machines", "m9", deepFreeze({ I: 900 })); // not read yet
        s.apply("machines", "m8", null);
        s.apply("machines", "m7", null);
        s.apply("machines", "m7", deepFreeze({ I: 700 }));
        s.apply("machines", "new", deepFreeze({ I: -1 }));
        s.apply("leases", "l", deepFreeze({}));
      }
      n++;
    }
    view.end();
    const want: Record<string, ModelObject> = {};
    for (let i = 0; i < 10; i++) want[`m${i}`] = { I: i };
    expect(got).toEqual(want);
    expect(view.types).toEqual(["machines"]);
    expect(s.get("machines", "m9")).toEqual({ I: 900 });
    expect(s.get("machines", "m8")).toBeUndefined();
  });

  test("after end(), changes are no longer recorded and a new view can begin", () => {
    const s = new LayeredState({ objects: new Map() });
    s.apply("a", "1", deepFreeze({ v: 1 }));
    expect(viewContents(s, () => s.apply("a", "1", deepFreeze({ v: 2 })))).toEqual({ a: { "1": { v: 1 } } });
    expect(viewContents(s, () => {})).toEqual({ a: { "1": { v: 2 } } });
    const v = s.beginView();
    expect(() => s.beginView()).toThrow("already open");
    v.end();
  });

  test("sorted lists stay sorted through inserts and deletes after the first list", () => {
    const s = new LayeredState({ objects: new Map() });
    const keys = Array.from({ length: 300 }, (_, i) => `k${(i * 7919) % 1000}`);
    for (const k of keys.slice(0, 100)) s.apply("t", k, deepFreeze({ K: k }));
    expect(s.list("t").length).toBe(100);
    for (const k of keys.slice(100)) s.apply("t", k, deepFreeze({ K: k }));
    for (const k of keys.slice(0, 50)) s.apply("t", k, null);
    const listed = s.list("t").map((o) => o.K as string);
    expect(listed).toEqual([...keys.slice(50)].sort());
    expect(s.count("t")).toBe(250);
  });

  test("the order built at load is the one kept by later inserts (UTF-16 code units), for any keys", () => {
    // Keys where code-unit order differs from code-point and locale order: astral characters
    // (surrogates, 0xD800..) sort before U+FFFD; upper case before lower; digits by character.
    const keys = ["b", "B", "a", "10.0.0.10", "10.0.0.9", "10.0.0.100", "\u{1F600}", "\uFFFD", "é", "e\u0301", "", "k-1", "k_1", "K"];
    const s = new LayeredState({ objects: new Map() });
    for (const k of keys) s.apply("t", k, { K: k }, true);
    s.finishLoad();
    const byLess = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(s.list("t").map((o) => o.K)).toEqual(byLess);
    // Inserting after load finds each key's place by binary search with "<": the same order.
    for (const k of ["10.0.0.99", "\uD83D", "f"]) s.apply("t", k, deepFreeze({ K: k }));
    expect(s.list("t").map((o) => o.K)).toEqual([...byLess, "10.0.0.99", "\uD83D", "f"].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  test("loaded objects share one frozen empty list and map; their content and JSON stay the same", () => {
    const s = new LayeredState({ objects: new Map() });
    const text = (i: number) => `{"Addr":"10.0.0.${i}","Errors":[],"Meta":{},"Tags":["x"],"Params":{"a":{}},"Nested":{"E":[]}}`;
    for (let i = 0; i < 3; i++) s.apply("leases", `10.0.0.${i}`, JSON.parse(text(i)) as ModelObject, true);
    s.finishLoad();
    const [a, b, c] = s.list("leases") as [ModelObject, ModelObject, ModelObject];
    expect(a.Errors).toBe(b.Errors);
    expect(a.Meta).toBe(c.Meta);
    expect(Object.isFrozen(a.Errors) && Object.isFrozen(a.Meta) && Object.isFrozen(a)).toBe(true);
    // Non-empty values, and empties below the top level, are the object's own.
    expect(a.Tags).not.toBe(b.Tags);
    expect(a.Nested).not.toBe(b.Nested);
    expect(s.get("leases", "10.0.0.1")).toBe(b);
    expect(JSON.stringify(b)).toBe(text(1));
    // An object written after open (put, not loaded) is kept as given.
    const own = deepFreeze({ Addr: "10.0.0.9", Errors: [] as string[] });
    s.apply("leases", "10.0.0.9", own);
    expect(s.get("leases", "10.0.0.9")).toBe(own);
    expect(own.Errors).not.toBe(a.Errors);
  });

  test("writable objects hidden by read-only ones are reported and stay out of get/list/count", () => {
    const s = new LayeredState({ objects: new Map([["bootenvs", new Map([["local", { Name: "local" }]])]]) });
    s.apply("bootenvs", "local", deepFreeze({ Name: "local", Mine: true }));
    s.apply("bootenvs", "other", deepFreeze({ Name: "other" }));
    expect(s.finishLoad()).toEqual([{ type: "bootenvs", key: "local" }]);
    expect(s.get("bootenvs", "local")).toEqual({ Name: "local", ReadOnly: true });
    expect(s.list("bootenvs").map((b) => b.Name)).toEqual(["local", "other"]);
    expect(s.count("bootenvs")).toBe(2);
    expect(s.getWritable("bootenvs", "local")).toEqual({ Name: "local", Mine: true });
  });

  test("scanField hands over a loaded object's field frozen, leaves the object to the background pass, and skips hidden writable objects", async () => {
    const s = new LayeredState({ objects: new Map([["bootenvs", new Map([["local", { Name: "local", Tags: ["ro"] }]])]]) });
    const loaded = { Name: "mine", Tags: ["a", { Deep: ["b"] }], Note: "n" };
    s.apply("bootenvs", "mine", loaded, true);
    s.apply("bootenvs", "local", { Name: "hidden", Tags: ["hidden"] }, true);
    s.finishLoad();
    // freeze false: handed over as it is, nothing frozen.
    const raw: unknown[] = [];
    s.scanField("bootenvs", "Tags", (_key, value) => raw.push(value), false);
    expect(raw[1]).toBe(loaded.Tags);
    expect(Object.isFrozen(loaded.Tags) || Object.isFrozen(loaded.Tags[1])).toBe(false);
    const seen: Array<[string, unknown]> = [];
    s.scanField("bootenvs", "Tags", (key, value) => seen.push([key, value]));
    expect(seen).toEqual([
      ["local", ["ro"]],
      ["mine", ["a", { Deep: ["b"] }]],
    ]);
    expect(seen[1]?.[1]).toBe(loaded.Tags); // no copy
    expect(Object.isFrozen(loaded.Tags) && Object.isFrozen(loaded.Tags[1]) && Object.isFrozen((loaded.Tags[1] as { Deep: string[] }).Deep)).toBe(true);
    expect(Object.isFrozen(loaded)).toBe(false);
    const notes: unknown[] = [];
    s.scanField("bootenvs", "Note", (_key, value) => notes.push(value));
    expect(notes).toEqual([undefined, "n"]);
    // The background pass and a first read still freeze the whole object.
    await s.freezeInBackground(0);
    expect(Object.isFrozen(loaded)).toBe(true);
    expect(s.get("bootenvs", "mine")).toBe(loaded);
  });

  test("key order at load: a sorted run (a snapshot) then a journal's keys merge into order, any other order is sorted", () => {
    const key = (i: number) => `k${String(i).padStart(3, "0")}`;
    for (const loadOrder of [
      [...Array.from({ length: 60 }, (_, i) => key(i * 2)), key(7), key(200), key(1), key(-1 + 60)], // run + journal tail
      [key(5), key(3), key(9), key(1), key(4), key(8)], // no run to speak of
      Array.from({ length: 20 }, (_, i) => key(i)), // all in order
      [key(2), key(1)],
    ]) {
      const s = new LayeredState({ objects: new Map() });
      for (const k of loadOrder) s.apply("t", k, { K: k }, true);
      // A journal's update of a key already loaded keeps its place in the map: not a new key.
      s.apply("t", loadOrder[0] as string, { K: loadOrder[0], Updated: true }, true);
      s.finishLoad();
      const want = [...new Set(loadOrder)].sort();
      expect(s.list("t").map((o) => o.K)).toEqual(want);
      expect(s.get("t", loadOrder[0] as string)?.Updated).toBe(true);
      expect(s.list("t").find((o) => o.K === loadOrder[0])?.Updated).toBe(true);
      // The order is kept up to date after the load.
      s.apply("t", "k0005x", deepFreeze({ K: "k0005x" }));
      s.apply("t", want[0] as string, null);
      expect(s.list("t").map((o) => o.K)).toEqual([...want.slice(1), "k0005x"].sort());
    }
  });

  test("a view gives each type's objects in key order, as of its point, while changes go on", () => {
    const s = new LayeredState({ objects: new Map() });
    for (const k of ["m", "c", "x", "a", "q"]) s.apply("t", k, { K: k, V: 0 }, true);
    s.finishLoad();
    s.apply("t", "b", deepFreeze({ K: "b", V: 0 }));
    const view = s.beginView();
    const got: string[] = [];
    for (const [k, v] of view.entries("t")) {
      got.push(`${k}${v.V}`);
      if (k === "b") {
        s.apply("t", "c", null);
        s.apply("t", "d", deepFreeze({ K: "d", V: 1 }));
        s.apply("t", "x", deepFreeze({ K: "x", V: 1 }));
      }
    }
    view.end();
    expect(got).toEqual(["a0", "b0", "c0", "m0", "q0", "x0"]);
    expect(s.list("t").map((o) => `${o.K}${o.V}`)).toEqual(["a0", "b0", "d1", "m0", "q0", "x1"]);
  });
});
