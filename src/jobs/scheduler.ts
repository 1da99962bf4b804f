// The job scheduler: what a machine's agent is to do next (POST /api/v3/jobs), what a client's
// write does to a job, and the upkeep of jobs (restart, machine deletion, log retention).
//
// A machine walks its Tasks (expand.ts) entry by entry. CurrentTask is the index of the last entry
// handed out and CurrentJob the job that recorded it; every entry becomes a job, so a machine's
// history reads as one chain (Previous). next(machine, agentEnv), with the env the agent runs in:
//
//   1. Not Runnable: when that is only because the machine's BootEnv changed (PendingBootEnv) and
//      the agent runs in the new env now, the machine is Runnable again and the walk goes on;
//      otherwise 409 (a failed job, or an operator's pause, waits for an operator).
//   2. The current job (CurrentJob, when it records the entry at CurrentTask) is open (created,
//      running, incomplete): 202, the same job, unchanged; its State says where it was, and the
//      agent's json-patch test names that state. Failed (the operator has set Runnable again
//      since): a new job for the same task, 201: the task is retried.
//   3. Otherwise from CurrentTask+1: "stage:S" sets the machine's Stage; "bootenv:B" sets its
//      BootEnv when it differs, which makes it wait for its agent in B (machine-transition.ts):
//      204 unless the agent runs in B already. Both are recorded as finished jobs, and the walk
//      goes on. A task gets a new job (created), 201. Past the end: WorkflowComplete, 204.
//      A task that does not exist is recorded as a failed job naming it: 409 until an operator acts.
//
// Everything for one machine runs one at a time (KeyedQueue): fifty agents asking at once for one
// machine get one job. Machine writes are made against the newest machine (ObjectService.update)
// and give up (Moved, then the walk starts over) when a client moved the machine's workflow
// position meanwhile, so an operator's write is never lost under the scheduler's.
//
// At start, jobs left created or running by the server that stopped are marked failed, with a line
// in their log, and their machine stops (Runnable false): a job that was running while the server
// was down is not resumed, since nobody can say what it did meanwhile. The agent keeps its log and
// the offset acknowledged, so no acknowledged log byte is lost; an operator sets Runnable to run
// the task anew. Jobs of machines that no longer exist are removed with their logs, at start and
// whenever a machine is deleted. Logs of jobs that ended longer ago than the jobLogRetention pref
// are removed at start and every hour, and their jobs marked Archived; Archived jobs that ended
// longer ago than the jobRetention pref are deleted (never a machine's current job).

import type { Logger } from "../log/logger.ts";
import { fieldString, fieldStrings, type Change, type ModelObject } from "../model/object.ts";
import { SocleError, conflict, invalid, notFound } from "../model/errors.ts";
import { applyPatch } from "../model/json-patch.ts";
import { jsonEqual } from "../model/json-schema.ts";
import { ENDED_JOB_STATES, OPEN_JOB_STATES, jobs as JOBS } from "../model/schemas/jobs.ts";
import { quote } from "../model/validate.ts";
import { bootEnvOf } from "../model/prefs.ts";
import { taskNameOf } from "./actions.ts";
import { parseEntry } from "./expand.ts";
import type { JobLogs } from "./job-logs.ts";
import { jobChange } from "./job-state.ts";
import { KeyedQueue } from "./keyed-queue.ts";

/** What the scheduler reads and writes: the ObjectService, as the API has it. */
export interface JobObjects {
  readonly store: {
    list(type: string): ModelObject[];
    delete(type: string, key: string): Promise<unknown>;
    subscribe(fn: (change: Change) => void): () => void;
  };
  /** The newest object (writes in flight included). */
  latest(type: string, key: string): ModelObject | undefined;
  /** Store an object as the server (a machine through machineTransition with actor "server"). */
  save(type: string, obj: ModelObject): Promise<ModelObject>;
  /** Store `change(newest)` as the server, read and written in one synchronous step. */
  update(type: string, key: string, change: (current: ModelObject) => ModelObject): Promise<ModelObject>;
}

export interface SchedulerOptions {
  objects: JobObjects;
  logs: JobLogs;
  /** The prefs now (defaultBootEnv, jobLogRetention, jobRetention). */
  prefs: () => Readonly<Record<string, string>>;
  log: Logger;
  now?: () => Date;
  /** Between two log retention sweeps (default an hour). */
  sweepEveryMs?: number;
}

/** The scheduler's answer to a machine asking for work. */
export type NextAnswer =
  | { status: 201 | 202; job: ModelObject; machine: ModelObject }
  | { status: 204 | 409; machine: ModelObject; reason: string };

/** The line a job left running by a stopped server gets in its log. */
export const RESTART_NOTE = "server restarted while the job was running: marked failed (set the machine Runnable to run its task again)";

/** How often a walk starts over because a client moved the machine meanwhile, before it gives up. */
const MAX_WALKS = 5;

/** Fields the walk decides on: a client write that changes one of them meanwhile makes it start over. */
const POSITION = ["Workflow", "Stage", "BootEnv", "Tasks", "CurrentTask", "CurrentJob", "Runnable", "PendingBootEnv", "WorkflowComplete"] as const;

/** The machine moved under the walk: start over. */
class Moved extends Error {}

const str = fieldString;
const strs = fieldStrings;

/** Whether `job` is machine `m`'s current job: its CurrentJob, recording the entry at CurrentTask. */
function isCurrent(m: ModelObject, job: ModelObject): boolean {
  const at = typeof m.CurrentTask === "number" ? m.CurrentTask : -1;
  return m.CurrentJob === job.Uuid && at >= 0 && strs(m.Tasks)[at] === job.Task;
}

export class JobScheduler {
  readonly logs: JobLogs;
  private readonly objects: JobObjects;
  private readonly queue = new KeyedQueue();
  private readonly now: () => Date;
  private timer: ReturnType<typeof setInterval> | undefined;
  private unsubscribe: () => void = () => {};
  private firstSweep: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SchedulerOptions) {
    this.logs = opts.logs;
    this.objects = opts.objects;
    this.now = opts.now ?? (() => new Date());
  }

  /**
   * Mark what the last server left running failed, drop orphans, sweep logs; then keep at it.
   * `takeover`: this node took over from its HA partner, whose agents are still running their
   * jobs and reach this node through the VIP: running jobs are left running.
   */
  async start(opts: { takeover?: boolean } = {}): Promise<void> {
    this.unsubscribe = this.objects.store.subscribe((c) => {
      if (c.Type !== "machines" || c.Action !== "delete") return;
      this.removeMachineJobs(c.Key).catch((err) => this.opts.log.error("removing the jobs of a deleted machine failed", { machine: c.Key, error: String(err) }));
    });
    const failed = opts.takeover ? 0 : await this.recover();
    if (failed > 0) this.opts.log.warn("jobs left running by the last server marked failed; their machines wait for an operator", { jobs: failed });
    const orphans = this.objects.store.list("jobs").filter((j) => !this.objects.latest("machines", str(j.Machine)));
    for (const job of orphans) await this.queue.run(str(job.Machine), () => this.dropJob(str(job.Uuid)));
    if (orphans.length > 0) this.opts.log.info("jobs of machines deleted while the server was down removed", { jobs: orphans.length });
    // Retention is upkeep, not a condition of serving: the first sweep runs after the start.
    const sweep = () =>
      this.sweepLogs()
        .then(() => this.sweepJobs())
        .catch((err) => this.opts.log.error("job retention sweep failed", { error: String(err) }));
    this.firstSweep = sweep();
    this.timer = setInterval(sweep, this.opts.sweepEveryMs ?? 3_600_000);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Stop the upkeep; settles once the work already queued has. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe();
    await this.firstSweep;
    await this.queue.idle();
    await this.logs.idle();
  }

  // ---- handing out work ------------------------------------------------------------------------

  /** What machine `uuid`, whose agent runs in boot environment `agentEnv`, is to do next. */
  next(uuid: string, agentEnv: string): Promise<NextAnswer> {
    return this.queue.run(uuid, async () => {
      for (let walk = 1; ; walk++) {
        try {
          return await this.walk(uuid, agentEnv);
        } catch (err) {
          if (!(err instanceof Moved)) throw err;
          if (walk >= MAX_WALKS) throw conflict("machines", uuid, `machine ${quote(uuid)} kept changing while its next job was chosen; ask again`);
        }
      }
    });
  }

  private async walk(uuid: string, agentEnv: string): Promise<NextAnswer> {
    let m = this.objects.latest("machines", uuid);
    if (!m) throw invalid("jobs", "", `Machine: machine ${quote(uuid)} does not exist`);
    if (m.Runnable !== true) {
      const pending = str(m.PendingBootEnv);
      if (pending === "" || pending !== agentEnv) {
        const why = pending !== "" ? `it boots ${quote(pending)} next and its agent runs in ${quote(agentEnv)}` : "Runnable is false (a failed job or an operator's pause): an operator sets Runnable to go on";
        return { status: 409, machine: m, reason: `machine ${quote(str(m.Name) || uuid)} is not runnable: ${why}` };
      }
      m = await this.move(m, { Runnable: true, PendingBootEnv: "" });
    }

    const tasks = strs(m.Tasks);
    const at = typeof m.CurrentTask === "number" ? m.CurrentTask : -1;
    const current = this.currentJob(m);
    if (current && OPEN_JOB_STATES.has(str(current.State))) return { status: 202, job: current, machine: m };
    if (current && current.State === "failed" && taskNameOf(current) !== undefined) return this.handOut(m, at);

    for (let i = at + 1; ; i++) {
      if (i >= tasks.length) {
        if (m.WorkflowComplete !== true) m = await this.move(m, { WorkflowComplete: true });
        return { status: 204, machine: m, reason: "nothing left to run: the workflow is complete" };
      }
      const entry = parseEntry(tasks[i]!);
      if (entry.kind === "task") return this.handOut(m, i);
      const env = entry.kind === "bootenv" ? entry.name : undefined;
      const switching = env !== undefined && env !== str(m.BootEnv);
      const job = await this.record(m, tasks[i]!, {
        State: "finished",
        ExitState: "complete",
        ...(entry.kind === "stage" ? { Stage: entry.name } : {}),
        ...(env !== undefined ? { BootEnv: env } : {}),
      });
      m = await this.move(
        m,
        { CurrentTask: i, CurrentJob: job.Uuid, WorkflowComplete: false, ...(entry.kind === "stage" ? { Stage: entry.name } : {}), ...(switching ? { BootEnv: env } : {}) },
        job,
      );
      if (!switching) continue;
      // The BootEnv change made the machine wait for its agent in the new env (machine-transition.ts).
      if (agentEnv !== env) return { status: 204, machine: m, reason: `the machine boots ${quote(env)} next` };
      m = await this.move(m, { Runnable: true, PendingBootEnv: "" });
    }
  }

  /** A new job for the task at entry `i` of the machine's Tasks: 201, or 409 when the task does not exist. */
  private async handOut(m: ModelObject, i: number): Promise<NextAnswer> {
    const name = strs(m.Tasks)[i]!;
    if (!this.objects.latest("tasks", name)) {
      const job = await this.record(m, name, { State: "failed", ExitState: "failed" });
      await this.logs.note(str(job.Uuid), `task ${quote(name)} does not exist: the job failed without running (create the task, then set the machine Runnable)`);
      const moved = await this.move(m, { CurrentTask: i, CurrentJob: job.Uuid, WorkflowComplete: false, Runnable: false }, job);
      return { status: 409, machine: moved, reason: `task ${quote(name)} (entry ${i} of the machine's Tasks) does not exist; its job ${quote(job.Uuid)} failed` };
    }
    const job = await this.record(m, name, { State: "created" });
    const moved = await this.move(m, { CurrentTask: i, CurrentJob: job.Uuid, WorkflowComplete: false }, job);
    return { status: 201, job, machine: moved };
  }

  /** The job that records the entry at CurrentTask, if CurrentJob is that job. */
  private currentJob(m: ModelObject): ModelObject | undefined {
    const id = str(m.CurrentJob);
    const job = id === "" ? undefined : this.objects.latest("jobs", id);
    return job && isCurrent(m, job) ? job : undefined;
  }

  /** Store a new job of machine `m` for `entry`. */
  private record(m: ModelObject, entry: string, fields: Record<string, unknown>): Promise<ModelObject> {
    const now = this.now().toISOString();
    const ended = ENDED_JOB_STATES.has(str(fields.State));
    const job = JOBS.prepare({
      Machine: m.Uuid,
      Task: entry,
      Previous: str(m.CurrentJob),
      Stage: str(m.Stage),
      Workflow: str(m.Workflow),
      BootEnv: this.envOf(m),
      StartTime: ended ? now : "",
      EndTime: ended ? now : "",
      ...fields,
    });
    return this.objects.save("jobs", job);
  }

  /**
   * Write `changes` to the newest machine, unless a client moved its workflow position since `seen`
   * was read (Moved: the walk starts over, and `orphan`, the job made for this step, is dropped).
   */
  private async move(seen: ModelObject, changes: Record<string, unknown>, orphan?: ModelObject): Promise<ModelObject> {
    try {
      return await this.objects.update("machines", str(seen.Uuid), (cur) => {
        for (const f of POSITION) if (!jsonEqual(cur[f], seen[f])) throw new Moved(f);
        return { ...cur, ...changes };
      });
    } catch (err) {
      // The step did not happen: the job made for it must not stay behind (every later ask would add one).
      if (orphan) await this.dropJob(str(orphan.Uuid));
      throw err;
    }
  }

  /** The boot environment machine `m` boots: its own, else the defaultBootEnv pref. */
  envOf(m: ModelObject): string {
    const p = this.opts.prefs();
    return bootEnvOf(m, { defaultBootEnv: str(p.defaultBootEnv), unknownBootEnv: str(p.unknownBootEnv) });
  }

  // ---- clients' writes -------------------------------------------------------------------------

  /**
   * Apply a client's JSON Patch to job `uuid` (job-state.ts says what it may change). A job that
   * fails stops its machine (Runnable false) while it is the machine's current job.
   */
  change(uuid: string, ops: unknown): Promise<ModelObject> {
    const first = this.objects.latest("jobs", uuid);
    if (!first) return Promise.reject(notFound("jobs", uuid));
    const machine = str(first.Machine);
    return this.queue.run(machine, async () => {
      const job = this.objects.latest("jobs", uuid);
      if (!job) throw notFound("jobs", uuid);
      const patched = applyPatch(job, ops, { model: "jobs", key: uuid }) as ModelObject;
      const { job: next, failed } = jobChange(job, patched, this.now().toISOString());
      if (next === job) return job;
      const saved = await this.objects.save("jobs", JOBS.prepare(next, job));
      if (failed) await this.stopMachine(machine, uuid);
      return saved;
    });
  }

  /**
   * Delete job `uuid` and its log. The machine's current job while it is open is refused (409):
   * without it the walk would go on past its task, which would never run.
   */
  remove(uuid: string): Promise<ModelObject> {
    const first = this.objects.latest("jobs", uuid);
    if (!first) return Promise.reject(notFound("jobs", uuid));
    return this.queue.run(str(first.Machine), async () => {
      const job = this.objects.latest("jobs", uuid);
      if (!job) throw notFound("jobs", uuid);
      const m = this.objects.latest("machines", str(job.Machine));
      if (m && isCurrent(m, job) && OPEN_JOB_STATES.has(str(job.State))) {
        throw conflict("jobs", uuid, `job ${quote(uuid)} is the open job of machine ${quote(str(m.Name) || str(m.Uuid))}; let it end (or fail it: PATCH State "failed") before deleting it`);
      }
      await this.dropJob(uuid);
      return job;
    });
  }

  // ---- upkeep ----------------------------------------------------------------------------------

  /** Mark the jobs a stopped server left created or running failed; returns how many. */
  async recover(): Promise<number> {
    let n = 0;
    for (const listed of this.objects.store.list("jobs")) {
      if (listed.State !== "running" && listed.State !== "created") continue;
      const uuid = str(listed.Uuid);
      const machine = str(listed.Machine);
      await this.queue.run(machine, async () => {
        const job = this.objects.latest("jobs", uuid);
        if (!job || (job.State !== "running" && job.State !== "created")) return;
        await this.logs.note(uuid, RESTART_NOTE);
        const now = this.now().toISOString();
        await this.objects.save("jobs", { ...job, State: "failed", ExitState: "failed", StartTime: str(job.StartTime) || now, EndTime: now });
        await this.stopMachine(machine, uuid);
        n++;
      });
    }
    return n;
  }

  /** Remove every job of machine `uuid` (deleted) with its log. */
  removeMachineJobs(uuid: string): Promise<number> {
    return this.queue.run(uuid, async () => {
      if (this.objects.latest("machines", uuid)) return 0; // created again meanwhile: keep its history
      let n = 0;
      for (const job of this.objects.store.list("jobs")) {
        if (job.Machine !== uuid) continue;
        await this.dropJob(str(job.Uuid));
        n++;
      }
      return n;
    });
  }

  /**
   * Remove the logs of jobs that finished or failed longer ago than the jobLogRetention pref (days;
   * "0" keeps them) and mark those jobs Archived. Returns how many were archived.
   */
  async sweepLogs(now: Date = this.now()): Promise<number> {
    const days = Number(this.opts.prefs().jobLogRetention);
    if (!Number.isFinite(days) || days <= 0) return 0;
    const cutoff = now.getTime() - days * 86_400_000;
    let n = 0;
    for (const listed of this.objects.store.list("jobs")) {
      if (!ENDED_JOB_STATES.has(str(listed.State)) || listed.Archived === true) continue;
      const ended = Date.parse(str(listed.EndTime));
      if (!Number.isFinite(ended) || ended >= cutoff) continue;
      const uuid = str(listed.Uuid);
      await this.queue.run(str(listed.Machine), async () => {
        const job = this.objects.latest("jobs", uuid);
        if (!job || job.Archived === true) return;
        await this.logs.remove(uuid);
        await this.objects.update("jobs", uuid, (cur) => ({ ...cur, Archived: true }));
        n++;
      });
    }
    if (n > 0) this.opts.log.info("job logs removed by retention", { jobs: n, days });
    return n;
  }

  /**
   * Delete the Archived jobs that ended longer ago than the jobRetention pref (days; "0" keeps
   * them), so that the store does not grow with every workflow run for ever. A machine's current
   * job is never deleted. Returns how many were.
   */
  async sweepJobs(now: Date = this.now()): Promise<number> {
    const days = Number(this.opts.prefs().jobRetention);
    if (!Number.isFinite(days) || days <= 0) return 0;
    const cutoff = now.getTime() - days * 86_400_000;
    let n = 0;
    for (const listed of this.objects.store.list("jobs")) {
      if (listed.Archived !== true) continue;
      const ended = Date.parse(str(listed.EndTime));
      if (!Number.isFinite(ended) || ended >= cutoff) continue;
      const uuid = str(listed.Uuid);
      await this.queue.run(str(listed.Machine), async () => {
        const job = this.objects.latest("jobs", uuid);
        const m = this.objects.latest("machines", str(listed.Machine));
        if (!job || job.Archived !== true || (m && isCurrent(m, job))) return;
        await this.dropJob(uuid);
        n++;
      });
    }
    if (n > 0) this.opts.log.info("archived jobs deleted by retention", { jobs: n, days });
    return n;
  }

  /**
   * Runnable false on machine `machine` while job `uuid` is its current job. A job the machine has
   * moved on from (an operator set another Workflow, Stage or CurrentTask) stops nothing.
   */
  private async stopMachine(machine: string, uuid: string): Promise<void> {
    const job = this.objects.latest("jobs", uuid);
    const m = this.objects.latest("machines", machine);
    if (!job || !m || !isCurrent(m, job) || m.Runnable !== true) return;
    await this.objects.update("machines", machine, (cur) => (isCurrent(cur, job) ? { ...cur, Runnable: false } : cur));
  }

  private async dropJob(uuid: string): Promise<void> {
    if (this.objects.latest("jobs", uuid)) await this.objects.store.delete("jobs", uuid);
    await this.logs.remove(uuid);
  }
}
