import { expect, test } from "bun:test";
import { SocleError } from "../model/errors.ts";
import { actionLines, actionSpecs, assertRequiredParams, taskNameOf } from "./actions.ts";

const task = {
  Name: "deploy",
  RequiredParams: ["image-url", "disk"],
  Templates: [
    { Name: "conf", Path: "/etc/deploy.conf", ID: "deploy-conf" },
    { Name: "run", Path: "", Contents: "echo deploy\n" },
  ],
};

test("a job's task: recorded stage: and bootenv: steps have none", () => {
  expect(taskNameOf({ Task: "deploy" })).toBe("deploy");
  expect(taskNameOf({ Task: "stage:install" })).toBeUndefined();
  expect(taskNameOf({ Task: "bootenv:local" })).toBeUndefined();
});

test("specs in the task's order; the list form for shells", () => {
  const specs = actionSpecs(task);
  expect(specs).toEqual([
    { Name: "conf", Path: "/etc/deploy.conf", ID: "deploy-conf" },
    { Name: "run", Path: "", Contents: "echo deploy\n" },
  ]);
  expect(actionLines(specs)).toBe("0\tconf\t/etc/deploy.conf\n1\trun\t\n");
  expect(actionLines([])).toBe("");
});

test("missing required parameters: 422, one message each, naming task, parameter and machine", () => {
  expect(() => assertRequiredParams(task, { Name: "m1" }, new Set(["image-url", "disk"]))).not.toThrow();
  try {
    assertRequiredParams(task, { Name: "m1" }, new Set(["image-url"]));
    throw new Error("not refused");
  } catch (e) {
    expect(e).toBeInstanceOf(SocleError);
    expect((e as SocleError).code).toBe(422);
    expect((e as SocleError).messages).toEqual(['task "deploy" requires parameter "disk", which is not set for machine "m1" (set it on the machine, a profile of it, its stage or global)']);
  }
});
