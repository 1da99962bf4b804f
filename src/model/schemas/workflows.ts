// Workflows: the stages a machine walks through, in order. Setting a machine's Workflow expands
// it into the machine's Tasks list (src/jobs/expand.ts).

import { z } from "zod";
import { defineModel } from "../define.ts";
import type { Reference } from "../model-def.ts";
import { zName, zText } from "./fields.ts";

export const workflows = defineModel({
  prefix: "workflows",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    Stages: z.array(zName()).default(() => []).describe("Stages in order (a stage may appear more than once)"),
  },
  references: (obj) => {
    const refs: Reference[] = [];
    if (Array.isArray(obj.Stages)) obj.Stages.forEach((s, i) => typeof s === "string" && refs.push({ type: "stages", key: s, field: `Stages[${i}]` }));
    return refs;
  },
});
