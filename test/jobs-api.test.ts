// The job protocol end to end over HTTPS (its server side: src/api/routes-jobs.ts, src/jobs/): a
// machine walks a workflow of two stages (the second switches its boot environment) with a fake
// agent written here (fetch calls, as assets/agent/socle-agent makes them): 201/202/204/409/422,
// the boot environment switch and the agent reporting from the new one, a failed job stopping the
// machine until an operator sets Runnable and the task runs anew, actions (a file and a script,
// inline and by Template ID), log offsets and resends, the log cap, retention, and a restart of
// the server marking the running job failed. Plus: fifty agents asking at once get one job;
// machine deletion takes its jobs and logs; events carry jobs.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rm } from "node:fs/promises";
import { startTestSocle, type TestSocle } from "./helpers/socle.ts";
import { readSse } from "./helpers/sse.ts";
import { peekToken } from "../src/auth/tokens.ts";
import { RESTART_NOTE } from "../src/jobs/scheduler.ts";

const PATCH = "application/json-patch+json";
let s: TestSocle;
let dir = "";

const admin = async (method: string, path: string, body?: unknown, type?: string) => {
  const r = await s.call(method, `/api/v3${path}`, { body, ...(type ? { type } : {}) });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

/** The agent's side of the protocol, with one machine's token. */
class FakeAgent {
  constructor(
    readonly uuid: string,
    public auth: string,
  ) {}
  static async for(uuid: string): Promise<FakeAgent> {
    return new FakeAgent(uuid, `Bearer ${(await admin("GET", `/machines/${uuid}/token`)).Token}`);
  }
  ask(env: string) {
    return s.call("POST", "/api/v3/jobs", { auth: this.auth, body: { Machine: this.uuid, BootEnv: env } });
  }
  patch(job: string, ops: unknown[]) {
    return s.call("PATCH", `/api/v3/jobs/${job}`, { auth: this.auth, type: PATCH, body: ops });
  }
  move(job: string, from: string, to: string, exit?: string) {
    const ops: unknown[] = [{ op: "test", path: "/State", value: from }, { op: "replace", path: "/State", value: to }];
    if (exit !== undefined) ops.push({ op: "replace", path: "/ExitState", value: exit });
    return this.patch(job, ops);
  }
  log(job: string, text: string, offset?: number) {
    return s.call("PUT", `/api/v3/jobs/${job}/log`, { auth: this.auth, raw: text, type: "text/plain", headers: offset === undefined ? {} : { "Socle-Log-Offset": String(offset) } });
  }
  get(path: string) {
    return s.req("GET", `/api/v3/jobs/${path}`, { auth: this.auth });
  }
  /** Ask, expect a job, run it to `state` (finished by default). */
  async runNext(env: string, state = "finished", exit?: string): Promise<any> {
    const r = await this.ask(env);
    expect(r.status).toBe(201);
    const job = r.body.Uuid;
    expect((await this.move(job, "created", "running")).status).toBe(200);
    const done = await this.move(job, "running", state, exit);
    expect(done.status).toBe(200);
    return done.body;
  }
}

async function machine(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  return (await admin("POST", "/machines", { Name: name, BootEnv: "discovery", ...extra })).Uuid;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "socle-jobs-"));
  s = await startTestSocle([], dir);
  await admin("POST", "/params", { Name: "job-color", Schema: { type: "string" } });
  await admin("POST", "/profiles", { Name: "job-profile", Params: { "job-color": "from-profile" } });
  await admin("POST", "/bootenvs", { Name: "job-env" });
  await admin("POST", "/templates", { ID: "job-tmpl", Contents: "hello <%= it.Machine.Name %> from a Template\n" });
  await admin("POST", "/tasks", {
    Name: "write-file",
    RequiredParams: ["job-color"],
    ExtraClaims: [{ Scope: "profiles", Action: "get", Specific: "job-profile" }],
    Templates: [
      { Name: "motd", Path: "/etc/motd", Contents: "machine <%= it.Machine.Name %> is <%= it.param('job-color') %>\n" },
      { Name: "run", Contents: "#!/bin/sh\necho token=<%= it.GenerateToken() %>\n" },
    ],
  });
  await admin("POST", "/tasks", { Name: "flaky", Templates: [{ Name: "try", Contents: "exit 1\n" }] });
  await admin("POST", "/tasks", { Name: "second", Templates: [{ Name: "by-id", ID: "job-tmpl" }] });
  await admin("POST", "/stages", { Name: "s-one", Tasks: ["write-file"] });
  await admin("POST", "/stages", { Name: "s-two", BootEnv: "job-env", Tasks: ["flaky", "second"] });
  await admin("POST", "/workflows", { Name: "wf", Stages: ["s-one", "s-two"] });
  await admin("POST", "/stages", { Name: "s-single", Tasks: ["second"] });
});
afterAll(async () => {
  await s?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("a machine walks a workflow with a fake agent", () => {
  let a: FakeAgent;
  let first = "";

  test("setup: the workflow expands", async () => {
    const uuid = await machine("walker", { Workflow: "wf" });
    a = await FakeAgent.for(uuid);
    const m = await admin("GET", `/machines/${uuid}`);
    expect(m.Tasks).toEqual(["stage:s-one", "write-file", "stage:s-two", "bootenv:job-env", "flaky", "second"]);
  });

  test("201: the stage is recorded and the first task handed out, with its token", async () => {
    const r = await a.ask("discovery");
    expect(r.status).toBe(201);
    first = r.body.Uuid;
    expect(r.body).toMatchObject({ Machine: a.uuid, Task: "write-file", Stage: "s-one", Workflow: "wf", BootEnv: "discovery", State: "created", ExitState: "" });
    expect(r.headers.get("socle-job")).toBe(first);
    expect(r.headers.get("socle-job-state")).toBe("created");
    expect(r.headers.get("location")).toBe(`/api/v3/jobs/${first}`);
    const token = peekToken(r.headers.get("socle-job-token")!);
    expect(token).toMatchObject({ kind: "machine", sub: a.uuid, machine: a.uuid });
    expect(token.claims).toEqual([
      { Scope: "machines", Action: "get,update,patch", Specific: a.uuid },
      { Scope: "profiles", Action: "get", Specific: "job-profile" },
    ]);
    // The job token reaches what the task's ExtraClaims say, and no further.
    const jobAuth = `Bearer ${r.headers.get("socle-job-token")}`;
    expect((await s.call("GET", "/api/v3/profiles/job-profile", { auth: jobAuth })).status).toBe(200);
    expect((await s.call("GET", "/api/v3/profiles/global", { auth: jobAuth })).status).toBe(404);
    expect((await s.call("GET", "/api/v3/profiles/job-profile", { auth: a.auth })).status).toBe(404);
    const m = await admin("GET", `/machines/${a.uuid}`);
    expect(m).toMatchObject({ Stage: "s-one", CurrentTask: 1, CurrentJob: first, Runnable: true, WorkflowComplete: false });
  });

  test("202: asked again, the same job, unchanged", async () => {
    const r = await a.ask("discovery");
    expect(r.status).toBe(202);
    expect(r.body.Uuid).toBe(first);
    expect(r.headers.get("socle-job-state")).toBe("created");
  });

  test("actions: 422 naming a missing required parameter; then the list, JSON and raw forms", async () => {
    const missing = await a.get(`${first}/actions?format=list`);
    expect(missing.status).toBe(422);
    expect(((await missing.json()) as any).Messages).toEqual([
      'task "write-file" requires parameter "job-color", which is not set for machine "walker" (set it on the machine, a profile of it, its stage or global)',
    ]);
    await admin("PATCH", `/machines/${a.uuid}`, [{ op: "add", path: "/Profiles/-", value: "job-profile" }], PATCH);

    const list = await a.get(`${first}/actions?format=list`);
    expect(list.status).toBe(200);
    expect(list.headers.get("content-type")).toContain("text/plain");
    expect(await list.text()).toBe("0\tmotd\t/etc/motd\n1\trun\t\n");

    const all = await a.get(`${first}/actions`);
    expect(all.status).toBe(200);
    const actions = (await all.json()) as any[];
    expect(actions.map((x: any) => [x.Name, x.Path])).toEqual([
      ["motd", "/etc/motd"],
      ["run", ""],
    ]);
    expect(actions[0].Content).toBe("machine walker is from-profile\n");
    const token = /token=(\S+)/.exec(actions[1].Content)![1]!;
    expect(peekToken(token).claims).toContainEqual({ Scope: "profiles", Action: "get", Specific: "job-profile" });

    const raw = await a.get(`${first}/actions/0`);
    expect(raw.headers.get("content-type")).toBe("application/octet-stream");
    expect(await raw.text()).toBe("machine walker is from-profile\n");
    expect((await a.get(`${first}/actions/2`)).status).toBe(404);
    expect((await a.get(`${first}/actions/x`)).status).toBe(400);
    expect((await a.get(`${first}/actions?format=yaml`)).status).toBe(400);
  });

  test("PATCH: created -> running with a test op; a second taker gets 409; the server sets StartTime", async () => {
    const r = await a.move(first, "created", "running");
    expect(r.status).toBe(200);
    expect(r.body.State).toBe("running");
    expect(Date.parse(r.body.StartTime)).toBeGreaterThan(Date.now() - 60_000);
    expect((await a.move(first, "created", "running")).status).toBe(409);
    const again = await a.ask("discovery");
    expect(again.status).toBe(202);
    expect(again.headers.get("socle-job-state")).toBe("running");
    // Resuming: test running, replace running: accepted, nothing changes.
    expect((await a.move(first, "running", "running")).body.StartTime).toBe(r.body.StartTime);
  });

  test("PATCH: only State and ExitState; ExitState goes with the end state", async () => {
    const bad = await a.patch(first, [{ op: "replace", path: "/Task", value: "second" }, { op: "replace", path: "/EndTime", value: "2020-01-01T00:00:00Z" }]);
    expect(bad.status).toBe(422);
    expect(bad.body.Messages).toEqual([
      "EndTime: set by the server; a client changes a job's State and ExitState only",
      "Task: set by the server; a client changes a job's State and ExitState only",
    ]);
    expect((await a.patch(first, [{ op: "replace", path: "/State", value: "exploded" }])).status).toBe(422);
    const mismatch = await a.move(first, "running", "finished", "failed");
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.Messages[0]).toBe('ExitState: "failed" does not go with State "finished" ("complete", "stop", "poweroff", "reboot")');
    expect((await a.patch(first, [{ op: "replace", path: "/ExitState", value: "reboot" }])).status).toBe(422);
  });

  test("log: offsets, resends and gaps", async () => {
    let r = await a.log(first, "line1\n", 0);
    expect(r.status).toBe(200);
    expect(r.headers.get("socle-log-length")).toBe("6");
    r = await a.log(first, "line1\nline2\n", 0); // a resend with more: only the new bytes land
    expect(r.headers.get("socle-log-length")).toBe("12");
    r = await a.log(first, "line1\n", 0); // a resend of what is held: nothing changes
    expect(r.headers.get("socle-log-length")).toBe("12");
    r = await a.log(first, "lost\n", 20);
    expect(r.status).toBe(409);
    expect(r.headers.get("socle-log-length")).toBe("12");
    r = await a.log(first, "line2\nline3\n", 6);
    expect(r.headers.get("socle-log-length")).toBe("18");
    r = await a.log(first, "no offset: at the end\n");
    expect(r.status).toBe(200);
    expect((await a.log(first, "x", undefined as any)).status).toBe(200);
    const bad = await s.call("PUT", `/api/v3/jobs/${first}/log`, { auth: a.auth, raw: "x", type: "text/plain", headers: { "Socle-Log-Offset": "-1" } });
    expect(bad.status).toBe(400);
    const got = await a.get(`${first}/log`);
    const text = await got.text();
    expect(text).toBe("line1\nline2\nline3\nno offset: at the end\nx");
    expect(got.headers.get("socle-log-length")).toBe(String(text.length));
    expect(got.headers.get("content-type")).toContain("text/plain");
    // A follower asks for what it lacks; an agent resuming asks for the length alone.
    const tail = await s.req("GET", `/api/v3/jobs/${first}/log`, { auth: a.auth, headers: { Range: "bytes=12-" } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get("content-range")).toBe(`bytes 12-${text.length - 1}/${text.length}`);
    expect(await tail.text()).toBe(text.slice(12));
    const past = await s.req("GET", `/api/v3/jobs/${first}/log`, { auth: a.auth, headers: { Range: `bytes=${text.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get("socle-log-length")).toBe(String(text.length));
    const head = await s.req("HEAD", `/api/v3/jobs/${first}/log`, { auth: a.auth });
    expect(head.status).toBe(200);
    expect(head.headers.get("socle-log-length")).toBe(String(text.length));
    expect(await head.text()).toBe("");
  });

  test("finished: EndTime set; an ended job changes no more", async () => {
    const r = await a.move(first, "running", "finished", "complete");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ State: "finished", ExitState: "complete" });
    expect(r.body.EndTime).not.toBe("");
    const back = await a.move(first, "finished", "running");
    expect(back.status).toBe(409);
    expect(back.body.Messages[0]).toContain("has ended (finished)");
  });

  test("bootenv switch: 204 with the new env and Runnable false; 409 from the old env; the new env goes on", async () => {
    const r = await a.ask("discovery");
    expect(r.status).toBe(204);
    expect(r.headers.get("socle-machine-bootenv")).toBe("job-env");
    expect(r.headers.get("socle-machine-runnable")).toBe("false");
    expect(r.headers.get("socle-workflow-complete")).toBe("false");
    expect(await admin("GET", `/machines/${a.uuid}`)).toMatchObject({ Stage: "s-two", BootEnv: "job-env", Runnable: false, PendingBootEnv: "job-env", CurrentTask: 3 });

    const old = await a.ask("discovery");
    expect(old.status).toBe(409);
    expect(old.headers.get("socle-machine-bootenv")).toBe("job-env");
    expect(old.body.Messages[0]).toContain('it boots "job-env" next');

    const next = await a.ask("job-env");
    expect(next.status).toBe(201);
    expect(next.body).toMatchObject({ Task: "flaky", Stage: "s-two", BootEnv: "job-env" });
    expect(await admin("GET", `/machines/${a.uuid}`)).toMatchObject({ Runnable: true, PendingBootEnv: "" });
  });

  let failed = "";
  test("a failed job stops the machine (409) until an operator sets Runnable; then the task runs anew", async () => {
    const job = (await a.ask("job-env")).body.Uuid;
    expect((await a.move(job, "created", "running")).status).toBe(200);
    const f = await a.move(job, "running", "failed", "failed");
    expect(f.status).toBe(200);
    failed = job;
    expect((await admin("GET", `/machines/${a.uuid}`)).Runnable).toBe(false);
    const stopped = await a.ask("job-env");
    expect(stopped.status).toBe(409);
    expect(stopped.headers.get("socle-machine-runnable")).toBe("false");
    expect(stopped.body.Messages[0]).toContain("an operator sets Runnable");
    expect((await a.ask("job-env")).status).toBe(409);

    await admin("PATCH", `/machines/${a.uuid}`, [{ op: "replace", path: "/Runnable", value: true }], PATCH);
    const retry = await a.ask("job-env");
    expect(retry.status).toBe(201);
    expect(retry.body.Uuid).not.toBe(failed);
    expect(retry.body).toMatchObject({ Task: "flaky", Previous: failed, State: "created" });
    expect((await a.move(retry.body.Uuid, "created", "running")).status).toBe(200);
    expect((await a.move(retry.body.Uuid, "running", "finished")).body.ExitState).toBe("complete");
  });

  test("a task by Template ID; then 204 with WorkflowComplete", async () => {
    const r = await a.ask("job-env");
    expect(r.status).toBe(201);
    expect(r.body.Task).toBe("second");
    expect(await (await a.get(`${r.body.Uuid}/actions/0`)).text()).toBe("hello walker from a Template\n");
    expect((await a.move(r.body.Uuid, "created", "running")).status).toBe(200);
    expect((await a.move(r.body.Uuid, "running", "finished")).status).toBe(200);
    const done = await a.ask("job-env");
    expect(done.status).toBe(204);
    expect(done.headers.get("socle-workflow-complete")).toBe("true");
    expect(done.headers.get("socle-machine-runnable")).toBe("true");
    expect((await admin("GET", `/machines/${a.uuid}`)).WorkflowComplete).toBe(true);
    expect((await a.ask("job-env")).status).toBe(204);
  });

  test("the history reads as one chain", async () => {
    const list = await admin("GET", `/jobs?Machine=Eq(${a.uuid})`);
    const byId = new Map<string, any>(list.map((j: any) => [j.Uuid, j]));
    const m = await admin("GET", `/machines/${a.uuid}`);
    const chain: any[] = [];
    for (let id = m.CurrentJob; id; id = byId.get(id)?.Previous) chain.unshift(byId.get(id));
    expect(chain.map((j) => `${j.Task}:${j.State}`)).toEqual([
      "stage:s-one:finished",
      "write-file:finished",
      "stage:s-two:finished",
      "bootenv:job-env:finished",
      "flaky:failed",
      "flaky:finished",
      "second:finished",
    ]);
    expect(chain.length).toBe(list.length);
    // A recorded step has no actions.
    expect(await (await a.get(`${chain[0].Uuid}/actions?format=list`)).text()).toBe("");
  });
});

describe("answers around the walk", () => {
  test("422 no such machine; 422 for a bad body; PUT of a job is 405; DELETE takes the log, not of the open job", async () => {
    const none = await s.call("POST", "/api/v3/jobs", { body: { Machine: "3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f" } });
    expect(none.status).toBe(422);
    expect(none.body.Messages[0]).toBe('Machine: machine "3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f" does not exist');
    expect((await s.call("POST", "/api/v3/jobs", { body: { Machine: "x", Task: "y" } })).status).toBe(422);
    expect((await s.call("POST", "/api/v3/jobs", { body: [] })).status).toBe(422);

    const uuid = await machine("deleter", { Stage: "s-single" });
    const a = await FakeAgent.for(uuid);
    const job = (await a.ask("discovery")).body.Uuid;
    await a.log(job, "something\n", 0);
    const put = await s.call("PUT", `/api/v3/jobs/${job}`, { body: { State: "finished" } });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, HEAD, PATCH, DELETE");
    expect((await s.call("PUT", `/api/v3/jobs/${job}`, { auth: a.auth, body: {} })).status).toBe(405);
    const logFile = join(dir, "job-logs", job.slice(0, 2), `${job}.log`);
    expect(existsSync(logFile)).toBe(true);
    expect((await s.call("DELETE", `/api/v3/jobs/${job}`, { auth: a.auth })).status).toBe(403);
    // The machine's open job is not deleted: its task would be skipped, never run.
    const open = await s.call("DELETE", `/api/v3/jobs/${job}`);
    expect(open.status).toBe(409);
    expect(open.body.Messages[0]).toContain("is the open job of machine");
    expect((await a.move(job, "created", "failed", "failed")).status).toBe(200);
    expect((await s.call("DELETE", `/api/v3/jobs/${job}`)).status).toBe(200);
    expect(existsSync(logFile)).toBe(false);
    expect((await s.call("GET", `/api/v3/jobs/${job}`)).status).toBe(404);
  });

  test("incomplete: the same job is handed out again, and goes from incomplete to running", async () => {
    const uuid = await machine("incomplete", { Stage: "s-single" });
    const a = await FakeAgent.for(uuid);
    const r = await a.ask("discovery");
    expect(r.status).toBe(201);
    const job = r.body.Uuid;
    await a.move(job, "created", "running");
    const inc = await a.move(job, "running", "incomplete", "reboot");
    expect(inc.body).toMatchObject({ State: "incomplete", ExitState: "reboot" });
    const again = await a.ask("discovery");
    expect(again.status).toBe(202);
    expect(again.body.Uuid).toBe(job);
    expect(again.headers.get("socle-job-state")).toBe("incomplete");
    const resumed = await a.move(job, "incomplete", "running");
    expect(resumed.body).toMatchObject({ State: "running", ExitState: "", EndTime: "" });
    expect((await a.move(job, "running", "finished")).status).toBe(200);
    expect((await a.ask("discovery")).status).toBe(204);
  });

  test("a task that no longer exists: a failed job naming it, 409", async () => {
    await admin("POST", "/tasks", { Name: "short-lived" });
    await admin("POST", "/stages", { Name: "s-gone", Tasks: ["short-lived"] });
    const uuid = await machine("orphaned", { Stage: "s-gone" });
    await admin("PUT", "/stages/s-gone", { Name: "s-gone", Tasks: [] });
    await admin("DELETE", "/tasks/short-lived");
    const a = await FakeAgent.for(uuid);
    const r = await a.ask("discovery");
    expect(r.status).toBe(409);
    expect(r.body.Messages[0]).toContain('task "short-lived"');
    const m = await admin("GET", `/machines/${uuid}`);
    expect(m.Runnable).toBe(false);
    const job = await admin("GET", `/jobs/${m.CurrentJob}`);
    expect(job).toMatchObject({ Task: "short-lived", State: "failed" });
    expect(await (await s.req("GET", `/api/v3/jobs/${job.Uuid}/log`)).text()).toContain('task "short-lived" does not exist');
  });

  test("fifty agents asking at once for one machine get one job", async () => {
    const uuid = await machine("crowd", { Stage: "s-single" });
    const a = await FakeAgent.for(uuid);
    const answers = await Promise.all(Array.from({ length: 50 }, () => a.ask("discovery")));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((x) => x === 201).length).toBe(1);
    expect(statuses.filter((x) => x === 202).length).toBe(49);
    expect(new Set(answers.map((r) => r.body.Uuid)).size).toBe(1);
    expect((await admin("GET", `/jobs?Machine=Eq(${uuid})&Task=Eq(second)`)).length).toBe(1);
  });

  test("a user with the jobs create claim and the machine's update asks for it; the job token only with the machine's token claim", async () => {
    const uuid = await machine("by-operator", { Stage: "s-single" });
    await admin("POST", "/roles", { Name: "job-starter", Claims: [{ Scope: "jobs", Action: "create,get", Specific: "*" }, { Scope: "machines", Action: "get", Specific: uuid }] });
    await admin("POST", "/roles", { Name: "machine-mover", Claims: [{ Scope: "machines", Action: "update", Specific: uuid }] });
    await admin("POST", "/users", { Name: "starter", Password: "starter-password-1", Roles: ["job-starter"] });
    const narrow = `Bearer ${(await admin("GET", "/users/starter/token")).Token}`;
    // Asking moves the machine (Stage, BootEnv, Runnable): without the claim to update it, 403.
    expect((await s.call("POST", "/api/v3/jobs", { auth: narrow, body: { Machine: uuid } })).status).toBe(403);
    await admin("PUT", "/users/starter", { Name: "starter", Roles: ["job-starter", "machine-mover"] });
    const auth = `Bearer ${(await admin("GET", "/users/starter/token")).Token}`;
    const r = await s.call("POST", "/api/v3/jobs", { auth, body: { Machine: uuid } });
    expect(r.status).toBe(201);
    expect(r.headers.get("socle-job-token")).toBe("TOKEN-WITHHELD");
    const other = await machine("not-starters");
    expect((await s.call("POST", "/api/v3/jobs", { auth, body: { Machine: other } })).status).toBe(422);
    expect((await s.call("POST", "/api/v3/jobs", { body: { Machine: `Name:by-operator` } })).status).toBe(202);
    const admins = await s.call("POST", "/api/v3/jobs", { body: { Machine: uuid } });
    expect(peekToken(admins.headers.get("socle-job-token")!).sub).toBe(uuid);
  });

  test("the log cap: what fits, one line, then 413", async () => {
    await admin("POST", "/prefs", { jobLogMaxBytes: "1024" });
    try {
      const uuid = await machine("chatty", { Stage: "s-single" });
      const a = await FakeAgent.for(uuid);
      const job = (await a.ask("discovery")).body.Uuid;
      expect((await a.log(job, "a".repeat(1000), 0)).status).toBe(200);
      const over = await a.log(job, "b".repeat(100), 1000);
      expect(over.status).toBe(413);
      const text = await (await a.get(`${job}/log`)).text();
      expect(text.startsWith(`${"a".repeat(1000)}${"b".repeat(24)}\n[socle] log truncated`)).toBe(true);
      expect(text.split("\n").length).toBe(3);
      expect((await a.log(job, "c", Number(over.headers.get("socle-log-length")))).status).toBe(413);
      expect(await (await a.get(`${job}/log`)).text()).toBe(text);
    } finally {
      await admin("POST", "/prefs", { jobLogMaxBytes: String(16 * 1024 * 1024) });
    }
  });

  test("events: jobs and machine progress on the stream", async () => {
    const res = await s.req("GET", "/api/v3/events?type=jobs,machines");
    const reading = readSse(res, 4);
    await Bun.sleep(50);
    const uuid = await machine("watched", { Stage: "s-single" });
    const a = await FakeAgent.for(uuid);
    const job = (await a.ask("discovery")).body.Uuid;
    await a.move(job, "created", "running");
    const events = await reading;
    const seen = events.map((e) => `${e.Type}.${e.Action}`);
    expect(seen).toContain("jobs.create");
    expect(seen).toContain("machines.update");
    expect(events.find((e) => e.Type === "machines" && e.Action === "update")?.Object.Secret).toBeUndefined();
  });

  test("deleting a machine deletes its jobs and their logs", async () => {
    const uuid = await machine("doomed", { Stage: "s-single" });
    const a = await FakeAgent.for(uuid);
    const job = (await a.ask("discovery")).body.Uuid;
    await a.log(job, "bye\n", 0);
    const logFile = join(dir, "job-logs", job.slice(0, 2), `${job}.log`);
    expect(existsSync(logFile)).toBe(true);
    await admin("DELETE", `/machines/${uuid}`);
    // The jobs go after the machine, one at a time (a job, then its log), in whatever order the
    // store lists them: wait for all of them, not for the first log.
    const left = async () => (await admin("GET", `/jobs?Machine=Eq(${uuid})`)) as unknown[];
    for (let i = 0; i < 100 && (existsSync(logFile) || (await left()).length > 0); i++) await Bun.sleep(20);
    expect(existsSync(logFile)).toBe(false);
    expect(await left()).toEqual([]);
  });
});

describe("across a restart of the server", () => {
  test("a running job is marked failed with a log line; its machine waits; retention archives old logs", async () => {
    const uuid = await machine("restarted", { Stage: "s-single" });
    const a = await FakeAgent.for(uuid);
    const job = (await a.ask("discovery")).body.Uuid;
    await a.move(job, "created", "running");
    await a.log(job, "acknowledged line\n", 0);

    // An old finished job: its log is past retention at the next start.
    const oldUuid = await machine("old", { Stage: "s-single" });
    const old = await FakeAgent.for(oldUuid);
    const ended = await old.runNext("discovery");
    await old.log(ended.Uuid, "old output\n", 0);
    const stored = s.socle.store.get("jobs", ended.Uuid)!;
    await s.socle.store.put("jobs", ended.Uuid, { ...stored, EndTime: new Date(Date.now() - 31 * 86_400_000).toISOString() });
    const oldLog = join(dir, "job-logs", ended.Uuid.slice(0, 2), `${ended.Uuid}.log`);
    expect(existsSync(oldLog)).toBe(true);

    await s.restart();

    const after = await admin("GET", `/jobs/${job}`);
    expect(after).toMatchObject({ State: "failed", ExitState: "failed" });
    expect(after.EndTime).not.toBe("");
    const log = await (await s.req("GET", `/api/v3/jobs/${job}/log`)).text();
    expect(log).toBe(`acknowledged line\n[socle] ${RESTART_NOTE}\n`);
    expect((await admin("GET", `/machines/${uuid}`)).Runnable).toBe(false);
    const fresh = await FakeAgent.for(uuid);
    expect((await fresh.ask("discovery")).status).toBe(409);

    expect(await admin("GET", `/jobs/${ended.Uuid}`)).toMatchObject({ Archived: true, State: "finished" });
    expect(existsSync(oldLog)).toBe(false);
    const gone = await s.call("GET", `/api/v3/jobs/${ended.Uuid}/log`);
    expect(gone.status).toBe(404);
    expect(gone.body.Messages[0]).toContain("removed by retention");
    // The walk of the walker survived the restart untouched.
    expect((await admin("GET", "/jobs?Task=Eq(flaky)&State=Eq(failed)")).length).toBe(1);
  });
});
