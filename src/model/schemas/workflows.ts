// Workflows: the stages a machine walks through, in order. Setting a machine's Workflow expands
// it into the machine's Tasks list (src/jobs/expand.ts).

import { z } from "zod";
import { defineModel } from "../define.ts";
import { listRefs, zName, zText } from "./fields.ts";

export const workflows = defineModel({
  prefix: "workflows",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    Stages: z.array(zName()).default(() => []).describe("Stages in order (a stage may appear more than once)"),
  },
  references: (obj) => listRefs(obj, "Stages", "stages"),
});
