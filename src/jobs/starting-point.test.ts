import { expect, test } from "bun:test";
import { startingPoint } from "./starting-point.ts";
import type { WorkflowLookup } from "./expand.ts";

const look: WorkflowLookup = {
  workflow: (n) => (n === "w" ? { Name: "w", Stages: ["s"] } : undefined),
  stage: (n) => (n === "s" ? { Name: "s", Tasks: [] } : undefined),
  task: () => undefined,
};

test("defaultWorkflow first, then defaultStage; a name that cannot start is skipped with why", () => {
  expect(startingPoint({ defaultWorkflow: "w", defaultStage: "s" }, look)).toEqual({ fields: { Workflow: "w" }, skipped: [] });
  expect(startingPoint({ defaultWorkflow: "", defaultStage: "s" }, look)).toEqual({ fields: { Stage: "s" }, skipped: [] });
  expect(startingPoint({ defaultWorkflow: "", defaultStage: "" }, look)).toEqual({ fields: {}, skipped: [] });
  const r = startingPoint({ defaultWorkflow: "gone", defaultStage: "s" }, look);
  expect(r.fields).toEqual({ Stage: "s" });
  expect(r.skipped).toEqual([{ pref: "defaultWorkflow", name: "gone", error: 'Workflow: workflow "gone" does not exist' }]);
});
