// The scheduler over the real ObjectService and a memory store (the API's own write path, with
// machineTransition), and job logs in a temporary directory.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../store/memory-store.ts";
import { ObjectService } from "../api/objects.ts";
import { nullLogger } from "../log/logger.ts";
import type { ModelObject } from "../model/object.ts";
import { SocleError } from "../model/errors.ts";
import { JobLogs } from "./job-logs.ts";
import { JobScheduler, RESTART_NOTE, type JobObjects } from "./scheduler.ts";

let dir = "";
let store: MemoryStore;
let objects: ObjectService;
let logs: JobLogs;
let prefs: Record<string, string>;
let clock = new Date("2026-12-06T12:00:00.000Z");

function scheduler(over: Partial<JobObjects> = {}): JobScheduler {
  const o: JobObjects = {
    store: objects.store,
    latest: (t, k) => objects.latest(t, k),
    save: (t, obj) => objects.save(t, obj),
    update: (t, k, fn) => objects.update(t, k, fn),
    ...over,
  };
  return new JobScheduler({ objects: o, logs, prefs: () => prefs, log: nullLogger, now: () => clock });
}

async function machine(name: string, fields: ModelObject): Promise<string> {
  return String((await objects.create("machines", { Name: name, BootEnv: "env-a", ...fields })).Uuid);
}
const get = (uuid: string) => store.get("machines", uuid)!;
const jobsOf = (uuid: string) => store.list("jobs").filter((j) => j.Machine === uuid);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "socle-scheduler-"));
  store = new MemoryStore();
  await store.open();
  objects = new ObjectService(store);
  logs = new JobLogs(dir);
  prefs = { defaultBootEnv: "local", jobLogRetention: "30", jobRetention: "180" };
  for (const Name of ["env-a", "env-b", "local"]) await objects.create("bootenvs", { Name });
  for (const Name of ["t1", "t2", "t3"]) await objects.create("tasks", { Name, Templates: [{ Name: "run", Contents: "true\n" }] });
  await objects.create("stages", { Name: "one", Tasks: ["t1"] });
  await objects.create("stages", { Name: "two", BootEnv: "env-b", Tasks: ["t2", "t3"] });
  await objects.create("workflows", { Name: "wf", Stages: ["one", "two"] });
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe("JobScheduler.next", () => {
  test("walks stages, a boot environment switch and tasks, recording every entry", async () => {
    const js = scheduler();
    const uuid = await machine("w1", { Workflow: "wf" });
    const a = await js.next(uuid, "env-a");
    expect(a.status).toBe(201);
    const t1 = "job" in a ? a.job : {};
    expect(t1).toMatchObject({ Task: "t1", Stage: "one", Workflow: "wf", BootEnv: "env-a", State: "created" });
    expect((await js.next(uuid, "env-a")).status).toBe(202);
    await js.change(String(t1.Uuid), [{ op: "replace", path: "/State", value: "running" }]);
    await js.change(String(t1.Uuid), [{ op: "replace", path: "/State", value: "finished" }]);

    const sw = await js.next(uuid, "env-a");
    expect(sw).toMatchObject({ status: 204, reason: 'the machine boots "env-b" next' });
    expect(get(uuid)).toMatchObject({ BootEnv: "env-b", Runnable: false, PendingBootEnv: "env-b", Stage: "two", CurrentTask: 3 });
    expect((await js.next(uuid, "env-a")).status).toBe(409);
    const t2 = await js.next(uuid, "env-b");
    expect(t2).toMatchObject({ status: 201, job: { Task: "t2", BootEnv: "env-b" } });
    expect(jobsOf(uuid).map((j) => `${j.Task}:${j.State}`).sort()).toEqual(["bootenv:env-b:finished", "stage:one:finished", "stage:two:finished", "t1:finished", "t2:created"]);
  });

  test("a switch to the env the agent already runs in goes straight on", async () => {
    const js = scheduler();
    const uuid = await machine("w2", { Stage: "two" });
    const r = await js.next(uuid, "env-b");
    expect(r).toMatchObject({ status: 201, job: { Task: "t2" } });
    expect(get(uuid)).toMatchObject({ BootEnv: "env-b", Runnable: true, PendingBootEnv: "" });
  });

  test("no machine: 422; no workflow: 204 complete", async () => {
    const e = await scheduler().next("3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f", "").catch((x) => x);
    expect(e).toBeInstanceOf(SocleError);
    expect((e as SocleError).code).toBe(422);
    const uuid = await machine("idle", {});
    expect(await scheduler().next(uuid, "env-a")).toMatchObject({ status: 204, machine: { WorkflowComplete: true } });
  });

  test("twenty at once for one machine: one job", async () => {
    const js = scheduler();
    const uuid = await machine("crowd", { Stage: "one" });
    const all = await Promise.all(Array.from({ length: 20 }, () => js.next(uuid, "env-a")));
    expect(all.filter((r) => r.status === 201).length).toBe(1);
    expect(new Set(all.map((r) => ("job" in r ? r.job.Uuid : "none"))).size).toBe(1);
    expect(jobsOf(uuid).filter((j) => j.Task === "t1").length).toBe(1);
  });

  test("an operator's write that moves the machine meanwhile wins: the walk starts over, its half-step undone", async () => {
    const uuid = await machine("moved", { Stage: "two", BootEnv: "env-b" });
    let inject = true;
    const js = scheduler({
      update: (t, k, fn) => {
        if (inject && t === "machines") {
          inject = false;
          // The operator skips t2 (entry 2 counts as handed out); its write is still in flight.
          void objects.patch("machines", uuid, [{ op: "replace", path: "/CurrentTask", value: 2 }]);
        }
        return objects.update(t, k, fn);
      },
    });
    const r = await js.next(uuid, "env-b");
    expect(r).toMatchObject({ status: 201, job: { Task: "t3" } });
    // The stage:two job of the abandoned walk was dropped; the second walk began after entry 2.
    expect(jobsOf(uuid).map((j) => j.Task)).toEqual(["t3"]);
    expect(get(uuid).CurrentTask).toBe(3);
  });

  test("failed: the machine stops; Runnable again runs the same task as a new job", async () => {
    const js = scheduler();
    const uuid = await machine("fails", { Stage: "one" });
    const first = await js.next(uuid, "env-a");
    const id = String("job" in first ? first.job.Uuid : "");
    await js.change(id, [{ op: "replace", path: "/State", value: "running" }]);
    const f = await js.change(id, [{ op: "replace", path: "/State", value: "failed" }]);
    expect(f).toMatchObject({ State: "failed", ExitState: "failed", EndTime: clock.toISOString() });
    expect(get(uuid).Runnable).toBe(false);
    expect((await js.next(uuid, "env-a")).status).toBe(409);
    await objects.patch("machines", uuid, [{ op: "replace", path: "/Runnable", value: true }]);
    const again = await js.next(uuid, "env-a");
    expect(again).toMatchObject({ status: 201, job: { Task: "t1", Previous: id } });
  });

  test("a failed job that is not the machine's current one does not stop it", async () => {
    const js = scheduler();
    const uuid = await machine("stale", { Stage: "one" });
    const r = await js.next(uuid, "env-a");
    const id = String("job" in r ? r.job.Uuid : "");
    await objects.patch("machines", uuid, [{ op: "replace", path: "/Stage", value: "two" }]); // a new stage: the job is no longer current
    await js.change(id, [{ op: "replace", path: "/State", value: "failed" }]);
    expect(get(uuid).Runnable).toBe(true);
  });
});

describe("upkeep", () => {
  test("recover: created and running jobs fail with a note, their machines stop; others untouched", async () => {
    const js = scheduler();
    const run = await machine("r-run", { Stage: "one" });
    const made = await machine("r-made", { Stage: "one" });
    const runJob = String(((await js.next(run, "env-a")) as { job: ModelObject }).job.Uuid);
    const madeJob = String(((await js.next(made, "env-a")) as { job: ModelObject }).job.Uuid);
    await js.change(runJob, [{ op: "replace", path: "/State", value: "running" }]);
    await logs.append(runJob, 0, new TextEncoder().encode("output\n"), 1 << 20);
    const finishedBefore = store.list("jobs").filter((j) => j.State === "finished").length;

    const n = await scheduler().recover();
    expect(n).toBeGreaterThanOrEqual(2);
    expect(store.get("jobs", runJob)).toMatchObject({ State: "failed", ExitState: "failed" });
    expect(store.get("jobs", madeJob)).toMatchObject({ State: "failed" });
    expect(new TextDecoder().decode(await logs.read(runJob))).toBe(`output\n[socle] ${RESTART_NOTE}\n`);
    expect(get(run).Runnable).toBe(false);
    expect(get(made).Runnable).toBe(false);
    expect(store.list("jobs").filter((j) => j.State === "finished").length).toBe(finishedBefore);
    expect(store.list("jobs").filter((j) => j.State === "running" || j.State === "created")).toEqual([]);
  });

  test("start({ takeover }): an HA takeover leaves running jobs running (their agents reach the VIP)", async () => {
    const js = scheduler();
    const uuid = await machine("t-run", { Stage: "one" });
    const job = String(((await js.next(uuid, "env-a")) as { job: ModelObject }).job.Uuid);
    await js.change(job, [{ op: "replace", path: "/State", value: "running" }]);
    const taker = scheduler();
    await taker.start({ takeover: true });
    expect(store.get("jobs", job)).toMatchObject({ State: "running" });
    expect(get(uuid).Runnable).toBe(true);
    await taker.close();
    const restarted = scheduler();
    await restarted.start();
    expect(store.get("jobs", job)).toMatchObject({ State: "failed" });
    await restarted.close();
  });

  test("sweepLogs: logs of jobs ended before the retention removed, the jobs Archived", async () => {
    const js = scheduler();
    const uuid = await machine("old", { Stage: "one" });
    const r = (await js.next(uuid, "env-a")) as { job: ModelObject };
    const id = String(r.job.Uuid);
    await js.change(id, [{ op: "replace", path: "/State", value: "running" }]);
    await js.change(id, [{ op: "replace", path: "/State", value: "finished" }]);
    await logs.append(id, 0, new TextEncoder().encode("old\n"), 1 << 20);
    expect(await js.sweepLogs(new Date(clock.getTime() + 29 * 86_400_000))).toBe(0);
    prefs.jobLogRetention = "0";
    expect(await js.sweepLogs(new Date(clock.getTime() + 365 * 86_400_000))).toBe(0);
    prefs.jobLogRetention = "30";
    expect(await js.sweepLogs(new Date(clock.getTime() + 31 * 86_400_000))).toBeGreaterThanOrEqual(1);
    expect(store.get("jobs", id)?.Archived).toBe(true);
    expect(existsSync(logs.pathOf(id))).toBe(false);
  });

  test("sweepJobs: Archived jobs ended before jobRetention are deleted; the machine's current job and un-archived ones stay", async () => {
    const js = scheduler();
    const uuid = await machine("older", { Stage: "one" });
    const r = (await js.next(uuid, "env-a")) as { job: ModelObject };
    const id = String(r.job.Uuid);
    await js.change(id, [{ op: "replace", path: "/State", value: "running" }]);
    await js.change(id, [{ op: "replace", path: "/State", value: "finished" }]);
    const later = (d: number) => new Date(clock.getTime() + d * 86_400_000);
    const kept = () => store.get("jobs", id) !== undefined;
    await js.sweepJobs(later(400));
    expect(kept()).toBe(true); // not Archived yet
    await js.sweepLogs(later(31));
    expect(store.get("jobs", id)?.Archived).toBe(true);
    // Still the machine's current job: kept, however old.
    expect(store.get("machines", uuid)?.CurrentJob).toBe(id);
    await js.sweepJobs(later(400));
    expect(kept()).toBe(true);
    await store.put("machines", uuid, { ...store.get("machines", uuid)!, CurrentJob: "", CurrentTask: -1 });
    await js.sweepJobs(later(179));
    expect(kept()).toBe(true);
    prefs.jobRetention = "0";
    await js.sweepJobs(later(4000));
    expect(kept()).toBe(true);
    prefs.jobRetention = "180";
    expect(await js.sweepJobs(later(181))).toBeGreaterThanOrEqual(1);
    expect(kept()).toBe(false);
  });

  test("a machine deleted: its jobs and logs go (start() follows the feed)", async () => {
    const js = scheduler();
    await js.start();
    try {
      const uuid = await machine("doomed", { Stage: "one" });
      const id = String(((await js.next(uuid, "env-a")) as { job: ModelObject }).job.Uuid);
      await logs.append(id, 0, new TextEncoder().encode("bye\n"), 1 << 20);
      await objects.remove("machines", uuid);
      for (let i = 0; i < 50 && jobsOf(uuid).length > 0; i++) await Bun.sleep(5);
      expect(jobsOf(uuid)).toEqual([]);
      expect(existsSync(logs.pathOf(id))).toBe(false);
    } finally {
      await js.close();
    }
  });
});
