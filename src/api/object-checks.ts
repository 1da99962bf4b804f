// The rules of a write that depend on its type and on other stored objects, checked by the
// object service just before it stores (uniqueness and overlaps, which are conflicts, stay there).
// Each problem is a message for a 422 naming the field:
// - the param values of machines, profiles and stages against their Param schemas; Secure params
//   are refused on stages (their values are sealed per machine or profile);
// - a profile cycle through a profile's sub-profiles;
// - a prerequisite cycle through a task;
// - templates compile on save: a Template's Contents, a BootEnv's BootParams, template paths and
//   inline templates, a task's inline templates (a bad one is refused with its line, never stored).

import type { ModelObject } from "../model/object.ts";
import { SocleError } from "../model/errors.ts";
import { profileCycle, validateParamValues } from "../model/params.ts";
import { isSecureParamDef } from "../model/secure-params.ts";
import { checkTemplate } from "../render/compile.ts";
import { prerequisitesOf, type WorkflowLookup } from "../jobs/expand.ts";

export interface CheckContext {
  /** The object (type, key) as the write sees it (writes in flight included). */
  current(type: string, key: string): ModelObject | undefined;
  param(name: string): ModelObject | undefined;
  workflows: WorkflowLookup;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function typeProblems(prefix: string, key: string, obj: ModelObject, ctx: CheckContext): string[] {
  switch (prefix) {
    case "machines":
    case "profiles":
    case "stages": {
      const params = isRecord(obj.Params) ? obj.Params : {};
      const bad = validateParamValues(params, (n) => ctx.param(n));
      if (prefix === "stages") {
        for (const name of Object.keys(params)) {
          if (isSecureParamDef(ctx.param(name))) bad.push(`Params.${name}: Secure params are held by machines and profiles only; set it on a profile and list that profile in the stage's Profiles`);
        }
      }
      if (prefix === "profiles") {
        const cycle = profileCycle(obj, (n) => (n === key ? obj : ctx.current("profiles", n)));
        if (cycle) bad.push(cycle);
      }
      return bad;
    }
    case "tasks": {
      const cycle = prerequisiteCycle(key, obj, ctx.workflows);
      return cycle ? [cycle] : templateProblems(prefix, key, obj);
    }
    case "templates":
    case "bootenvs":
      return templateProblems(prefix, key, obj);
    default:
      return [];
  }
}

/** A prerequisite cycle through task `key` were `obj` stored, as a message; missing tasks are no cycle (they make the task unavailable). */
function prerequisiteCycle(key: string, obj: ModelObject, look: WorkflowLookup): string | undefined {
  const withObj: WorkflowLookup = { ...look, task: (n) => (n === key ? obj : look.task(n)) };
  try {
    prerequisitesOf(key, withObj);
  } catch (err) {
    if (err instanceof SocleError && err.messages[0]?.startsWith("Prerequisites: cycle")) return err.messages[0];
  }
  return undefined;
}

/** Compile errors of a Template's Contents, or of a BootEnv's BootParams, paths and inline templates, or of a task's inline templates. */
function templateProblems(prefix: string, key: string, obj: ModelObject): string[] {
  const out: string[] = [];
  const check = (field: string, name: string, text: unknown) => {
    if (typeof text !== "string") return;
    const err = checkTemplate(name, text);
    if (err) out.push(`${field}: ${err}`);
  };
  if (prefix === "templates") {
    check("Contents", key, obj.Contents);
    return out;
  }
  if (prefix === "bootenvs") check("BootParams", `${key}/BootParams`, obj.BootParams);
  const list = Array.isArray(obj.Templates) ? (obj.Templates as Array<Record<string, unknown>>) : [];
  list.forEach((t, i) => {
    // A task's Path is a plain path; a boot environment's is itself a template.
    if (prefix === "bootenvs") check(`Templates[${i}].Path`, `${key}/${String(t.Name)}/Path`, t.Path);
    check(`Templates[${i}].Contents`, `${key}/${String(t.Name)}`, t.Contents);
  });
  return out;
}
