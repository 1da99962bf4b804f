// A workflow, a stage or a task spelled out as the list a machine walks through (its Tasks):
//   workflow W = the expansion of each of its stages, in order
//   stage S    = "stage:S", then "bootenv:B" when S has a BootEnv, then each of its tasks
//   task T     = T's Prerequisites (each expanded the same way, depth first), then T
// A prerequisite already in the stage's list before it is not repeated; a task the stage lists
// itself always appears. A prerequisite cycle (a -> b -> a) is refused, naming the cycle, as is
// any name that does not exist. Each task's prerequisites are expanded once per call (memo), so a
// web of shared prerequisites costs its size, not the number of its paths. Pure: it reads objects
// through the lookup and changes nothing.

import { fieldStrings, type ModelObject } from "../model/object.ts";
import { invalid } from "../model/errors.ts";
import { quote } from "../model/validate.ts";

export interface WorkflowLookup {
  workflow(name: string): ModelObject | undefined;
  stage(name: string): ModelObject | undefined;
  task(name: string): ModelObject | undefined;
}

const STAGE_PREFIX = "stage:";
const BOOTENV_PREFIX = "bootenv:";

/** What an entry of a machine's Tasks list is. */
export type TaskEntry = { kind: "stage"; name: string } | { kind: "bootenv"; name: string } | { kind: "task"; name: string };

export function parseEntry(entry: string): TaskEntry {
  if (entry.startsWith(STAGE_PREFIX)) return { kind: "stage", name: entry.slice(STAGE_PREFIX.length) };
  if (entry.startsWith(BOOTENV_PREFIX)) return { kind: "bootenv", name: entry.slice(BOOTENV_PREFIX.length) };
  return { kind: "task", name: entry };
}

const strings = fieldStrings;

/** The Tasks list of workflow `name`. Throws a ValidationError (422) naming what is missing or cyclic. */
export function expandWorkflow(name: string, look: WorkflowLookup): string[] {
  const wf = look.workflow(name);
  if (!wf) throw invalid("workflows", name, `Workflow: workflow ${quote(name)} does not exist`);
  const memo: Memo = new Map();
  return strings(wf.Stages).flatMap((s) => expandStage(s, look, `workflow ${quote(name)}`, memo));
}

/** The Tasks list of stage `name` ("stage:S", "bootenv:B", its tasks with their prerequisites). */
export function expandStage(name: string, look: WorkflowLookup, where = "", memo: Memo = new Map()): string[] {
  const stage = look.stage(name);
  if (!stage) throw invalid("stages", name, `Stage: stage ${quote(name)}${where ? ` (in ${where})` : ""} does not exist`);
  const out = [`${STAGE_PREFIX}${name}`];
  if (typeof stage.BootEnv === "string" && stage.BootEnv !== "") out.push(`${BOOTENV_PREFIX}${stage.BootEnv}`);
  const seen = new Set<string>();
  for (const t of strings(stage.Tasks)) {
    for (const pre of prerequisitesOf(t, look, [], `stage ${quote(name)}`, memo)) {
      if (seen.has(pre)) continue;
      seen.add(pre);
      out.push(pre);
    }
    seen.add(t);
    out.push(t);
  }
  return out;
}

/** The prerequisites of task `name`, expanded depth first, each once, in run order (not `name` itself). */
export function prerequisitesOf(name: string, look: WorkflowLookup, chain: string[] = [], where = "", memo: Memo = new Map()): string[] {
  const known = memo.get(name);
  if (known) return known; // expanded already, and without a cycle
  const task = look.task(name);
  if (!task) {
    const by = chain.length > 0 ? ` (a prerequisite of task ${quote(chain.at(-1))})` : where ? ` (in ${where})` : "";
    throw invalid("tasks", name, `Tasks: task ${quote(name)}${by} does not exist`);
  }
  const out = new Set<string>();
  const path = [...chain, name];
  for (const pre of strings(task.Prerequisites)) {
    if (path.includes(pre)) {
      throw invalid("tasks", name, `Prerequisites: cycle ${[...path.slice(path.indexOf(pre)), pre].map((t) => quote(t)).join(" -> ")}`);
    }
    for (const p of prerequisitesOf(pre, look, path, where, memo)) out.add(p);
    out.add(pre);
  }
  const list = [...out];
  memo.set(name, list);
  return list;
}

/** Task name -> its expanded prerequisites, within one expansion. */
type Memo = Map<string, string[]>;
