// Tasks: one step of a workflow, run by the agent on the machine. Templates render for the
// machine when the job asks for its actions: a template with an empty Path is a script to run,
// one with a Path is a file to write there first. Prerequisites are expanded before the task
// wherever it appears (src/jobs/expand.ts; a cycle is refused there). ExtraClaims are what the
// task's job token may do beyond its own machine: the only way a job widens a machine token.

import { z } from "zod";
import { defineModel } from "../define.ts";
import { quote } from "../validate.ts";
import { checkTemplateList, listRefs, templateRefs, zName, zNameList, zText } from "./fields.ts";
import { zClaim } from "./roles.ts";

/** An absolute path with no "." or ".." segment, or "" (a script). No tab, newline or NUL: agents read action lists line by line. */
const zActionPath = () =>
  z
    .string()
    .check((ctx) => {
      const v = ctx.value;
      if (v === "") return;
      const bad = !v.startsWith("/")
        ? "must be absolute (start with /) or empty for a script"
        : /[\t\n\r\0]/.test(v)
          ? "must not contain tabs, line ends or NUL"
          : v.split("/").some((s) => s === "." || s === "..")
            ? 'must not contain "." or ".." segments'
            : v.endsWith("/")
              ? "must name a file, not a directory"
              : "";
      if (bad) ctx.issues.push({ code: "custom", message: `invalid path ${quote(v)}: ${bad}`, input: v });
    })
    .default("");

export const zTaskTemplate = () =>
  z.strictObject({
    Name: zName(),
    Path: zActionPath().describe('Empty: a script the agent runs; else the absolute path of a file the agent writes (not itself a template)'),
    ID: zName().optional().describe("A Template object to render (exactly one of ID and Contents)"),
    Contents: z.string().optional().describe("Inline template text (exactly one of ID and Contents)"),
  });

export const tasks = defineModel({
  prefix: "tasks",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    Templates: z.array(zTaskTemplate()).default(() => []),
    RequiredParams: zNameList("parameter").default(() => []),
    OptionalParams: zNameList("parameter").default(() => []),
    Prerequisites: zNameList("task").default(() => []).describe("Tasks run before this one wherever it appears (expanded; a cycle is refused)"),
    ExtraClaims: z.array(zClaim()).default(() => []).describe("What this task's job token may do beyond its own machine"),
  },
  check: (obj) => {
    const out = checkTemplateList(obj);
    if (Array.isArray(obj.Prerequisites) && obj.Prerequisites.includes(obj.Name)) out.push(`Prerequisites: task ${quote(obj.Name)} may not require itself`);
    return out;
  },
  references: (obj) => [...templateRefs(obj), ...listRefs(obj, "Prerequisites", "tasks")],
});
