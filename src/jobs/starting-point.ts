// Where a machine that discovery registers starts: the defaultWorkflow pref, else the
// defaultStage pref. A pref naming something that does not exist (or does not expand) is skipped
// and reported, so that a bad pref costs a log line, never a registration.

import type { ModelObject } from "../model/object.ts";
import { SocleError } from "../model/errors.ts";
import { expandStage, expandWorkflow, type WorkflowLookup } from "./expand.ts";

export interface StartingPoint {
  /** { Workflow } or { Stage } for the new machine, or nothing. */
  fields: ModelObject;
  /** Prefs that were set but could not start a machine, with why. */
  skipped: Array<{ pref: string; name: string; error: string }>;
}

export function startingPoint(prefs: { defaultWorkflow: string; defaultStage: string }, look: WorkflowLookup): StartingPoint {
  const skipped: StartingPoint["skipped"] = [];
  for (const [pref, field] of [["defaultWorkflow", "Workflow"], ["defaultStage", "Stage"]] as const) {
    const name = prefs[pref];
    if (!name) continue;
    try {
      if (field === "Workflow") expandWorkflow(name, look);
      else expandStage(name, look);
      return { fields: { [field]: name }, skipped };
    } catch (err) {
      skipped.push({ pref, name, error: err instanceof SocleError ? err.messages.join("; ") : String(err) });
    }
  }
  return { fields: {}, skipped };
}
