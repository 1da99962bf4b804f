// What a write does to a machine's workflow fields, decided in one place for every writer:
//
// - Setting Workflow (to a new value) expands it into Tasks (expand.ts) and starts over:
//   CurrentTask -1, WorkflowComplete false, Stage "", Runnable true, no pending BootEnv. Clearing
//   it empties Tasks. Without a Workflow, setting Stage expands that one stage the same way.
// - While a Workflow is set, BootEnv and Stage belong to it: a client write that changes either is
//   refused (422), as is one that changes Tasks. The scheduler (actor "server") moves them.
// - Tasks, WorkflowComplete, CurrentJob and PendingBootEnv are set by the server only; CurrentTask
//   may be moved by a client within -1 .. Tasks.length-1 (to run an entry again, or skip one).
// - A BootEnv change, by anyone, makes the machine not Runnable until its agent reports from the
//   new boot environment: PendingBootEnv names it (the scheduler clears both). An operator who sets
//   Runnable true clears PendingBootEnv: the operator's word wins.
// Pure: reads workflows, stages and tasks through the lookup, returns the object to store.

import { fieldString, type ModelObject } from "../model/object.ts";
import { invalid } from "../model/errors.ts";
import { quote } from "../model/validate.ts";
import { jsonEqual } from "../model/json-schema.ts";
import { expandStage, expandWorkflow, type WorkflowLookup } from "./expand.ts";

export type Actor = "client" | "server";

const SERVER_FIELDS = ["Tasks", "WorkflowComplete", "CurrentJob", "PendingBootEnv"] as const;

const str = fieldString;

/**
 * The machine to store when `next` replaces `before` (undefined: a create). Throws a
 * ValidationError naming every field the actor may not change.
 */
export function machineTransition(before: ModelObject | undefined, next: ModelObject, look: WorkflowLookup, actor: Actor): ModelObject {
  const key = str(next.Uuid);
  const out: ModelObject = { ...next };
  const was = (f: string) => (before ? before[f] : undefined);
  const changed = (f: string) => !jsonEqual(was(f), next[f]);

  if (actor === "client") {
    const bad: string[] = [];
    for (const f of SERVER_FIELDS) {
      // On a create the defaults stand; on an update the stored value must come back unchanged.
      const given = before ? changed(f) : !isDefault(f, next[f]);
      if (given) bad.push(`${f}: set by the server (the job scheduler), not by clients`);
    }
    const workflow = str(next.Workflow);
    if (before && workflow !== "" && !changed("Workflow")) {
      for (const f of ["BootEnv", "Stage"]) {
        if (changed(f)) bad.push(`${f}: read-only while Workflow ${quote(workflow)} is set (clear Workflow to change it by hand)`);
      }
    }
    if (bad.length > 0) throw invalid("machines", key, bad);
    // Server fields are the stored ones (a PUT of what was read carries them back unchanged).
    if (before) for (const f of SERVER_FIELDS) out[f] = before[f];
  }

  // On a create only a value given counts: "" is no Workflow (or Stage), not a change to one.
  const workflowSet = before ? changed("Workflow") : str(next.Workflow) !== "";
  if (actor === "client" && workflowSet) {
    const wf = str(next.Workflow);
    out.Tasks = wf === "" ? [] : expandWorkflow(wf, look);
    out.CurrentTask = -1;
    out.WorkflowComplete = false;
    if (wf !== "") {
      out.Stage = "";
      out.Runnable = true;
      out.PendingBootEnv = "";
    }
  } else if (actor === "client" && str(next.Workflow) === "" && (before ? changed("Stage") : str(next.Stage) !== "")) {
    const stage = str(next.Stage);
    out.Tasks = stage === "" ? [] : expandStage(stage, look);
    out.CurrentTask = -1;
    out.WorkflowComplete = false;
  }

  if (actor === "client" && before && next.Runnable === true && before.Runnable !== true) out.PendingBootEnv = "";
  if (before && !jsonEqual(before.BootEnv, out.BootEnv)) {
    out.Runnable = false;
    out.PendingBootEnv = str(out.BootEnv);
  }

  const tasks = Array.isArray(out.Tasks) ? out.Tasks.length : 0;
  const current = typeof out.CurrentTask === "number" ? out.CurrentTask : -1;
  if (current < -1 || current > tasks - 1) {
    throw invalid("machines", key, `CurrentTask: ${current} is outside -1 .. ${tasks - 1} (the machine has ${tasks} entries in Tasks)`);
  }
  return out;
}

function isDefault(field: string, v: unknown): boolean {
  switch (field) {
    case "Tasks":
      return Array.isArray(v) && v.length === 0;
    case "WorkflowComplete":
      return v === false || v === undefined;
    default:
      return v === "" || v === undefined;
  }
}
