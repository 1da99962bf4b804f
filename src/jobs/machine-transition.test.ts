import { describe, expect, test } from "bun:test";
import type { ModelObject } from "../model/object.ts";
import { SocleError } from "../model/errors.ts";
import { machineTransition } from "./machine-transition.ts";
import type { WorkflowLookup } from "./expand.ts";

const look: WorkflowLookup = {
  workflow: (n) => ({ deploy: { Name: "deploy", Stages: ["discover", "done"] } })[n],
  stage: (n) => ({ discover: { Name: "discover", BootEnv: "discovery", Tasks: ["inventory"] }, done: { Name: "done", Tasks: [] } })[n],
  task: (n) => ({ inventory: { Name: "inventory" } })[n],
};

const base: ModelObject = {
  Uuid: "3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f",
  Name: "m1",
  BootEnv: "discovery",
  Workflow: "",
  Stage: "",
  Tasks: [],
  CurrentTask: -1,
  CurrentJob: "",
  Runnable: true,
  PendingBootEnv: "",
  WorkflowComplete: false,
};

function refused(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof SocleError) return e.messages;
    throw e;
  }
  throw new Error("not refused");
}

describe("machineTransition", () => {
  test("setting Workflow expands it and starts over", () => {
    const before = { ...base, Runnable: false, PendingBootEnv: "x", WorkflowComplete: true, Stage: "old" };
    const m = machineTransition(before, { ...before, Workflow: "deploy" }, look, "client");
    expect(m.Tasks).toEqual(["stage:discover", "bootenv:discovery", "inventory", "stage:done"]);
    expect(m).toMatchObject({ CurrentTask: -1, WorkflowComplete: false, Stage: "", Runnable: true, PendingBootEnv: "" });
  });

  test("a create with a Workflow is expanded too; clearing Workflow empties Tasks", () => {
    const created = machineTransition(undefined, { ...base, Workflow: "deploy" }, look, "client");
    expect((created.Tasks as string[]).length).toBe(4);
    const cleared = machineTransition(created, { ...created, Workflow: "" }, look, "client");
    expect(cleared.Tasks).toEqual([]);
    expect(cleared.CurrentTask).toBe(-1);
  });

  test("an unknown workflow is a 422 naming it", () => {
    expect(refused(() => machineTransition(base, { ...base, Workflow: "nope" }, look, "client"))).toEqual(['Workflow: workflow "nope" does not exist']);
  });

  test("while a Workflow is set, clients may not change BootEnv or Stage; the server may", () => {
    const m = machineTransition(base, { ...base, Workflow: "deploy" }, look, "client");
    expect(refused(() => machineTransition(m, { ...m, BootEnv: "local" }, look, "client"))[0]).toBe('BootEnv: read-only while Workflow "deploy" is set (clear Workflow to change it by hand)');
    expect(refused(() => machineTransition(m, { ...m, Stage: "done" }, look, "client"))[0]).toContain("Stage: read-only");
    const moved = machineTransition(m, { ...m, Stage: "done", BootEnv: "local" }, look, "server");
    expect(moved).toMatchObject({ Stage: "done", BootEnv: "local" });
  });

  test("server fields cannot be written by clients; a PUT that carries them back unchanged is fine", () => {
    const m = machineTransition(base, { ...base, Workflow: "deploy" }, look, "client");
    for (const [f, v] of [["Tasks", ["x"]], ["WorkflowComplete", true], ["CurrentJob", "8e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"], ["PendingBootEnv", "local"]] as const) {
      expect(refused(() => machineTransition(m, { ...m, [f]: v }, look, "client"))[0]).toBe(`${f}: set by the server (the job scheduler), not by clients`);
    }
    expect(machineTransition(m, { ...m, Description: "same fields" }, look, "client").Tasks).toEqual(m.Tasks);
    expect(refused(() => machineTransition(undefined, { ...base, WorkflowComplete: true }, look, "client"))[0]).toContain("WorkflowComplete");
  });

  test("CurrentTask may be moved by a client within the list only", () => {
    const m = machineTransition(base, { ...base, Workflow: "deploy" }, look, "client");
    expect(machineTransition(m, { ...m, CurrentTask: 2 }, look, "client").CurrentTask).toBe(2);
    expect(refused(() => machineTransition(m, { ...m, CurrentTask: 4 }, look, "client"))[0]).toBe("CurrentTask: 4 is outside -1 .. 3 (the machine has 4 entries in Tasks)");
  });

  test("without a Workflow, setting Stage expands that stage", () => {
    const m = machineTransition(base, { ...base, Stage: "discover" }, look, "client");
    expect(m.Tasks).toEqual(["stage:discover", "bootenv:discovery", "inventory"]);
  });

  test("a create with a Stage and no Workflow expands the stage", () => {
    const m = machineTransition(undefined, { ...base, Stage: "discover" }, look, "client");
    expect(m.Tasks).toEqual(["stage:discover", "bootenv:discovery", "inventory"]);
    expect(machineTransition(undefined, { ...base }, look, "client").Tasks).toEqual([]);
  });

  test("a BootEnv change makes the machine wait for its agent in the new env; an operator's Runnable=true overrides", () => {
    const m = machineTransition(base, { ...base, BootEnv: "local" }, look, "client");
    expect(m).toMatchObject({ Runnable: false, PendingBootEnv: "local" });
    const same = machineTransition(m, { ...m, Description: "x" }, look, "client");
    expect(same).toMatchObject({ Runnable: false, PendingBootEnv: "local" });
    const freed = machineTransition(m, { ...m, Runnable: true }, look, "client");
    expect(freed).toMatchObject({ Runnable: true, PendingBootEnv: "" });
    // An operator's pause (Runnable=false with no BootEnv change) sets no pending env.
    expect(machineTransition(base, { ...base, Runnable: false }, look, "client").PendingBootEnv).toBe("");
  });
});
