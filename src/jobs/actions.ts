// A job's actions: its task's Templates, in order, each rendered for the job's machine when the
// agent asks (GET /api/v3/jobs/<id>/actions). A template with a Path is a file the agent writes
// there; one without is a script it runs. The stage: and bootenv: steps the scheduler records as
// jobs have no actions. The list form is for shells: one line per action,
// "<index>\t<name>\t<path>", which names and paths can be written in (tasks.ts refuses tabs and
// line ends in paths; names are plain names).
// Pure: the render itself is the caller's (the API asks the boot core).

import { fieldString, type ModelObject } from "../model/object.ts";
import { invalid } from "../model/errors.ts";
import { quote } from "../model/validate.ts";
import { parseEntry } from "./expand.ts";

export interface ActionSpec {
  Name: string;
  /** "" for a script. */
  Path: string;
  /** Exactly one of ID (a Template object) and Contents (inline text). */
  ID?: string;
  Contents?: string;
}

export interface Action {
  Name: string;
  Path: string;
  Content: string;
}

const str = fieldString;

/** The task job `job` runs, or undefined for a recorded stage: or bootenv: step. */
export function taskNameOf(job: ModelObject): string | undefined {
  const entry = parseEntry(str(job.Task));
  return entry.kind === "task" ? entry.name : undefined;
}

/** The actions of `task`, in its order. */
export function actionSpecs(task: ModelObject): ActionSpec[] {
  const list = Array.isArray(task.Templates) ? (task.Templates as Array<Record<string, unknown>>) : [];
  return list.map((t) => ({
    Name: str(t.Name),
    Path: str(t.Path),
    ...(typeof t.ID === "string" ? { ID: t.ID } : {}),
    ...(typeof t.Contents === "string" ? { Contents: t.Contents } : {}),
  }));
}

/**
 * Refuse (422) rendering `task` for `machine` when a RequiredParams entry resolves nowhere (machine,
 * profiles, stage, global, default): one message per parameter, naming it, the task and the machine.
 */
export function assertRequiredParams(task: ModelObject, machine: ModelObject, resolved: ReadonlySet<string>): void {
  const required = Array.isArray(task.RequiredParams) ? task.RequiredParams.filter((p): p is string => typeof p === "string") : [];
  const missing = required.filter((p) => !resolved.has(p));
  if (missing.length === 0) return;
  const who = quote(str(machine.Name) || str(machine.Uuid));
  throw invalid(
    "jobs",
    "",
    missing.map((p) => `task ${quote(str(task.Name))} requires parameter ${quote(p)}, which is not set for machine ${who} (set it on the machine, a profile of it, its stage or global)`),
  );
}

/** The action list for shells: "<index>\t<name>\t<path>\n" per action. */
export function actionLines(actions: ReadonlyArray<Pick<ActionSpec, "Name" | "Path">>): string {
  return actions.map((a, i) => `${i}\t${a.Name}\t${a.Path}\n`).join("");
}
