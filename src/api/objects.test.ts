import { beforeAll, describe, expect, test } from "bun:test";
import { MemoryStore } from "../store/memory-store.ts";
import type { ModelObject } from "../model/object.ts";
import { ObjectService, type ReadView } from "./objects.ts";

/** A read view that marks every BootEnv whose Name starts with "down" unavailable; records what it saw. */
function markingView(): ReadView & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    fields: ["Available", "Errors"],
    async apply(objs) {
      return objs.map((o) => {
        seen.push(String(o.Name));
        return String(o.Name).startsWith("down") ? { ...o, Available: false, Errors: ["down"] } : o;
      });
    },
  };
}

describe("ObjectService.list with a read view", () => {
  const store = new MemoryStore();
  const objects = new ObjectService(store);
  const q = (s: string) => new URLSearchParams(s);
  const namesOf = (items: ModelObject[]) => items.map((o) => o.Name);

  beforeAll(async () => {
    await store.open();
    for (const Name of ["a", "b", "down-1", "down-2", "z"]) await objects.create("bootenvs", { Name });
  });

  test("without a filter or sort on a field the view sets, only the page returned is viewed", async () => {
    const view = markingView();
    const { items, total } = await objects.list("bootenvs", q("sort=Name&offset=2&limit=2"), view);
    expect(namesOf(items)).toEqual(["down-1", "down-2"]);
    expect(items.map((o) => o.Available)).toEqual([false, false]);
    expect(total).toBe(5);
    expect(view.seen).toEqual(["down-1", "down-2"]);
  });

  test("a filter on Available sees the view before it filters", async () => {
    const view = markingView();
    const { items, total } = await objects.list("bootenvs", q("Available=Eq(false)"), view);
    expect(namesOf(items).sort()).toEqual(["down-1", "down-2"]);
    expect(total).toBe(2);
    expect(view.seen.length).toBe(5);
  });

  test("so does a sort on Available", async () => {
    const { items } = await objects.list("bootenvs", q("sort=Available&sort=Name"), markingView());
    expect(namesOf(items)).toEqual(["down-1", "down-2", "a", "b", "z"]);
  });

  test("without a view, the stored status", async () => {
    const { items } = await objects.list("bootenvs", q("Available=Eq(false)"));
    expect(items).toEqual([]);
  });

  test("a bad query is refused before the view is asked", async () => {
    const view = markingView();
    await expect(objects.list("bootenvs", q("Colour=Eq(red)"), view)).rejects.toThrow();
    expect(view.seen).toEqual([]);
  });
});
