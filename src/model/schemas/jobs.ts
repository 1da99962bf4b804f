// Jobs: one run of one task on one machine, created by the scheduler (POST /api/v3/jobs, in
// src/jobs/), never by a client directly. The `stage:` and `bootenv:` entries of a machine's task
// list are recorded as jobs too (finished at once), so a machine's history reads in one list.
// States: created (handed out, not started), running (the agent marked it with a json-patch test
// op), then finished, failed or incomplete (the agent asked to run it again). Logs live in files
// beside the store, not in the object (src/jobs/job-logs.ts).

import { z } from "zod";
import { defineModel } from "../define.ts";
import { checkedString, zNameOrEmpty, zUuid } from "./fields.ts";
import { checkTime, checkUuid } from "../validate.ts";

export const JOB_STATES = ["created", "running", "failed", "finished", "incomplete"] as const;
export type JobState = (typeof JOB_STATES)[number];
/** States a job may still leave: the scheduler hands the same job out again while one is current. */
export const OPEN_JOB_STATES: ReadonlySet<string> = new Set(["created", "running", "incomplete"]);
/** States a job never leaves. */
export const ENDED_JOB_STATES: ReadonlySet<string> = new Set(JOB_STATES.filter((s) => !OPEN_JOB_STATES.has(s)));

export const EXIT_STATES = ["", "complete", "stop", "poweroff", "reboot", "incomplete", "failed"] as const;

const zTimeOrEmpty = () => checkedString(checkTime, true);

export const jobs = defineModel({
  prefix: "jobs",
  key: "Uuid",
  shape: {
    Uuid: zUuid().describe("Key; generated"),
    Previous: checkedString(checkUuid, true).default("").describe("The machine's job before this one"),
    Machine: zUuid(),
    Task: z.string().min(1).describe('A task name, or "stage:<name>" / "bootenv:<name>" for a recorded step'),
    Stage: zNameOrEmpty().default(""),
    Workflow: zNameOrEmpty().default(""),
    BootEnv: zNameOrEmpty().default("").describe("The machine's BootEnv when the job was created"),
    State: z.enum(JOB_STATES).default("created"),
    ExitState: z.enum(EXIT_STATES).default(""),
    StartTime: zTimeOrEmpty().default(""),
    EndTime: zTimeOrEmpty().default(""),
    Archived: z.boolean().default(false).describe("The log was removed by retention"),
  },
  indexes: {
    Machine: { unique: false, kind: "string" },
    Task: { unique: false, kind: "string" },
    Stage: { unique: false, kind: "string" },
    Workflow: { unique: false, kind: "string" },
    State: { unique: false, kind: "string" },
    Archived: { unique: false, kind: "boolean" },
  },
  generated: { Uuid: () => crypto.randomUUID() },
  // No reference to the Machine: a job is history, and must not keep its machine from deletion.
});
