import { describe, expect, test } from "bun:test";
import type { ModelObject } from "../model/object.ts";
import { SocleError } from "../model/errors.ts";
import { expandStage, expandWorkflow, parseEntry, prerequisitesOf, type WorkflowLookup } from "./expand.ts";

function lookup(objs: { workflows?: ModelObject[]; stages?: ModelObject[]; tasks?: ModelObject[] }): WorkflowLookup {
  const by = (list: ModelObject[] = []) => new Map(list.map((o) => [String(o.Name), o]));
  const w = by(objs.workflows), s = by(objs.stages), t = by(objs.tasks);
  return { workflow: (n) => w.get(n), stage: (n) => s.get(n), task: (n) => t.get(n) };
}

function error(fn: () => unknown): SocleError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SocleError) return e;
    throw e;
  }
  throw new Error("no error");
}

const look = lookup({
  workflows: [{ Name: "deploy", Stages: ["discover", "install", "done"] }],
  stages: [
    { Name: "discover", BootEnv: "discovery", Tasks: ["inventory"] },
    { Name: "install", BootEnv: "", Tasks: ["partition", "image"] },
    { Name: "done", Tasks: [] },
  ],
  tasks: [
    { Name: "inventory", Prerequisites: [] },
    { Name: "wipe", Prerequisites: [] },
    { Name: "partition", Prerequisites: ["wipe"] },
    { Name: "image", Prerequisites: ["partition", "wipe"] },
  ],
});

describe("expandWorkflow", () => {
  test("stages in order: stage:, bootenv: when the stage has one, then tasks after their prerequisites, each prerequisite once per stage", () => {
    expect(expandWorkflow("deploy", look)).toEqual(["stage:discover", "bootenv:discovery", "inventory", "stage:install", "wipe", "partition", "image", "stage:done"]);
  });

  test("a workflow, stage or task that does not exist is a 422 naming it and where it was used", () => {
    expect(error(() => expandWorkflow("nope", look)).messages[0]).toBe('Workflow: workflow "nope" does not exist');
    const bad = lookup({ workflows: [{ Name: "w", Stages: ["s"] }], stages: [{ Name: "s", Tasks: ["t"] }] });
    expect(error(() => expandWorkflow("w", bad)).messages[0]).toBe('Tasks: task "t" (in stage "s") does not exist');
    const noStage = lookup({ workflows: [{ Name: "w", Stages: ["gone"] }] });
    const e = error(() => expandWorkflow("w", noStage));
    expect(e.type).toBe("ValidationError");
    expect(e.messages[0]).toBe('Stage: stage "gone" (in workflow "w") does not exist');
  });
});

describe("prerequisites", () => {
  test("depth first, each once", () => {
    const l = lookup({ tasks: [{ Name: "a", Prerequisites: ["b", "c"] }, { Name: "b", Prerequisites: ["c"] }, { Name: "c" }] });
    expect(prerequisitesOf("a", l)).toEqual(["c", "b"]);
  });

  test("a cycle is refused, naming it", () => {
    const l = lookup({ tasks: [{ Name: "a", Prerequisites: ["b"] }, { Name: "b", Prerequisites: ["c"] }, { Name: "c", Prerequisites: ["a"] }] });
    expect(error(() => prerequisitesOf("a", l)).messages[0]).toBe('Prerequisites: cycle "a" -> "b" -> "c" -> "a"');
    const s = lookup({ stages: [{ Name: "s", Tasks: ["b"] }], tasks: [{ Name: "b", Prerequisites: ["c"] }, { Name: "c", Prerequisites: ["b"] }] });
    expect(error(() => expandStage("s", s)).messages[0]).toBe('Prerequisites: cycle "b" -> "c" -> "b"');
  });

  test("a web of shared prerequisites expands in time linear in its size, not in its paths", () => {
    // a0 needs a1 and b1; each of those needs a2 and b2; ... down to depth 40: 2^40 paths.
    const tasks: ModelObject[] = [{ Name: "a40" }, { Name: "b40" }];
    for (let d = 39; d >= 0; d--) {
      const pre = [`a${d + 1}`, `b${d + 1}`];
      tasks.push({ Name: `a${d}`, Prerequisites: pre }, { Name: `b${d}`, Prerequisites: pre });
    }
    const list = prerequisitesOf("a0", lookup({ tasks }));
    expect(list.length).toBe(80);
    expect(list.slice(0, 3)).toEqual(["a40", "b40", "a39"]);
  });

  test("a missing prerequisite names the task that wants it", () => {
    const l = lookup({ tasks: [{ Name: "a", Prerequisites: ["ghost"] }] });
    expect(error(() => prerequisitesOf("a", l)).messages[0]).toBe('Tasks: task "ghost" (a prerequisite of task "a") does not exist');
  });
});

test("parseEntry", () => {
  expect(parseEntry("stage:x")).toEqual({ kind: "stage", name: "x" });
  expect(parseEntry("bootenv:local")).toEqual({ kind: "bootenv", name: "local" });
  expect(parseEntry("inventory")).toEqual({ kind: "task", name: "inventory" });
});
