// What a client's write (a JSON Patch from the agent or an operator) may do to a job. A client
// moves State, and sets ExitState with the state a job ends in; every other field is the server's
// (the scheduler made the job, StartTime and EndTime are set here, Archived by log retention).
//
//   created    -> running (the agent starts it), failed (it could not start)
//   running    -> finished, failed, incomplete
//   incomplete -> running (handed out again and restarted), failed
//   finished, failed: ended; nothing changes them. The next POST /api/v3/jobs moves the machine on
//   (finished) or, once an operator sets the machine Runnable again, runs the task anew (failed).
// A write that leaves State as it is (running -> running: an agent that resumes a job it was
// running) changes nothing and is accepted, so the agent's "test State, replace State" always
// works on the state it was handed.
//
// ExitState goes with the end state (the agent's exit-code table): finished -> complete, stop,
// poweroff or reboot; incomplete -> incomplete or reboot; failed -> failed; "" while created or
// running. A State written without an ExitState gets the first of its list.
// Pure: no clock (the time is passed in), no store.

import type { ModelObject } from "../model/object.ts";
import { SocleError, conflict, invalid } from "../model/errors.ts";
import { jsonEqual } from "../model/json-schema.ts";
import { SERVER_SET_FIELDS } from "../model/schemas/fields.ts";
import { EXIT_STATES, JOB_STATES, type JobState } from "../model/schemas/jobs.ts";
import { quote } from "../model/validate.ts";

export const NEXT_STATES: Readonly<Record<JobState, readonly JobState[]>> = {
  created: ["running", "failed"],
  running: ["finished", "failed", "incomplete"],
  incomplete: ["running", "failed"],
  finished: [],
  failed: [],
};

/** The ExitStates each State may carry; the first is what a State written alone gets. */
export const EXIT_STATES_OF: Readonly<Record<JobState, readonly string[]>> = {
  created: [""],
  running: [""],
  finished: ["complete", "stop", "poweroff", "reboot"],
  incomplete: ["incomplete", "reboot"],
  failed: ["failed"],
};

/** The fields a client writes; every other field of a job is the server's. */
const JOB_CLIENT_FIELDS: ReadonlySet<string> = new Set(["State", "ExitState"]);
const IGNORED: ReadonlySet<string> = new Set<string>(SERVER_SET_FIELDS);

const isState = (v: unknown): v is JobState => typeof v === "string" && (JOB_STATES as readonly string[]).includes(v);

export interface JobChange {
  /** The job to store (the stored one itself when nothing changed). */
  job: ModelObject;
  /** The job failed with this write: the scheduler stops its machine (Runnable false). */
  failed: boolean;
}

/**
 * The job to store when a client's write turns `before` into `after` (the patched document), at
 * time `now` (ISO). Throws ValidationError (422) naming each field a client may not write or a
 * value that is not a state; Conflict (409) for a move its State does not allow.
 */
export function jobChange(before: ModelObject, after: ModelObject, now: string): JobChange {
  const key = String(before.Uuid ?? "");
  const bad: string[] = [];
  for (const f of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    if (JOB_CLIENT_FIELDS.has(f) || IGNORED.has(f)) continue;
    if (!jsonEqual(before[f], after[f])) bad.push(`${f}: set by the server; a client changes a job's State and ExitState only`);
  }
  const from = before.State;
  const to = after.State;
  if (!isState(to)) bad.push(`State: ${quote(to)} is not one of ${JOB_STATES.join(", ")}`);
  if (typeof after.ExitState !== "string" || !(EXIT_STATES as readonly string[]).includes(after.ExitState)) {
    bad.push(`ExitState: ${quote(after.ExitState)} is not one of ${EXIT_STATES.filter((e) => e !== "").join(", ")} (or "")`);
  }
  if (bad.length > 0) throw invalid("jobs", key, bad);
  if (!isState(from)) throw new SocleError("Conflict", "jobs", key, `State: the stored job has no valid State (${quote(from)})`);
  const target = to as JobState;
  const exitGiven = after.ExitState !== before.ExitState;

  if (target === from) {
    if (!exitGiven) return { job: before, failed: false };
    if (NEXT_STATES[from].length === 0) throw conflict("jobs", key, `job ${quote(key)} has ended (${from}): nothing about it changes any more`);
    throw invalid("jobs", key, `ExitState: ${quote(after.ExitState)} is set together with the State a job ends in (finished, incomplete or failed), not while it is ${from}`);
  }
  if (!NEXT_STATES[from].includes(target)) {
    const allowed = NEXT_STATES[from];
    throw conflict(
      "jobs",
      key,
      allowed.length === 0
        ? `State: job ${quote(key)} has ended (${from}) and cannot become ${target}; POST /api/v3/jobs hands out the machine's next job`
        : `State: a job that is ${from} cannot become ${target} (it may become ${allowed.join(" or ")})`,
    );
  }
  const exits = EXIT_STATES_OF[target];
  const exit = exitGiven ? String(after.ExitState) : exits[0]!;
  if (!exits.includes(exit)) {
    throw invalid("jobs", key, `ExitState: ${quote(exit)} does not go with State ${quote(target)} (${exits.filter((e) => e !== "").map((e) => quote(e)).join(", ") || '""'})`);
  }
  const job: ModelObject = { ...before, State: target, ExitState: exit };
  if (target === "running") {
    job.StartTime = typeof before.StartTime === "string" && before.StartTime !== "" ? before.StartTime : now;
    job.EndTime = "";
  } else {
    if (typeof before.StartTime !== "string" || before.StartTime === "") job.StartTime = now;
    job.EndTime = now;
  }
  return { job, failed: target === "failed" };
}
