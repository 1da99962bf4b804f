// Stages: a step of a workflow. Entering a stage may switch the machine's boot environment
// (BootEnv, empty = keep it), then runs its Tasks in order. While the machine is in the stage, the
// stage's Params and Profiles take part in parameter resolution, after the machine's own profiles
// (see model/params.ts). Built in: `none` (nothing) and `local` (boot from the local disk).

import { z } from "zod";
import { defineModel } from "../define.ts";
import { listRefs, zName, zNameList, zNameOrEmpty, zParams, zText } from "./fields.ts";

export const stages = defineModel({
  prefix: "stages",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    BootEnv: zNameOrEmpty().default("").describe('Boot environment the machine switches to on entering the stage; "" keeps the current one'),
    Tasks: z.array(zName()).default(() => []).describe("Tasks run in order (a task may appear more than once)"),
    Params: zParams().default(() => ({})),
    Profiles: zNameList("profile").default(() => []),
  },
  references: (obj) => {
    const env = typeof obj.BootEnv === "string" && obj.BootEnv !== "" ? [{ type: "bootenvs", key: obj.BootEnv, field: "BootEnv" }] : [];
    return [...env, ...listRefs(obj, "Tasks", "tasks"), ...listRefs(obj, "Profiles", "profiles")];
  },
});
