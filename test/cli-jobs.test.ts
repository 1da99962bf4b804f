// The workflow verbs of the CLI over real sockets. Against the real server (HTTPS on loopback):
// tasks, stages and workflows through the generic verbs, jobs list/show/destroy, `machines
// runnable` and `machines wait` (which long-polls the machine). Against a small fake job API
// (HTTP on loopback): `jobs log [--follow]`, `jobs create` and `jobs actions`, with a log that
// grows while it is followed, with and without Range support, and a server that does not hold
// long-polls.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../src/cli/main.ts";
import { ADMIN_PASSWORD, startTestSocle, type TestSocle } from "./helpers/socle.ts";

let t: TestSocle;
let dir: string;
let caFile: string;

beforeAll(async () => {
  t = await startTestSocle();
  dir = mkdtempSync(join(tmpdir(), "socle-cli-jobs-"));
  caFile = join(dir, "ca.pem");
  writeFileSync(caFile, t.socle.caCertPem);
});

afterAll(async () => {
  await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface CliRun {
  code: number;
  out: string[];
  err: string[];
  stdout: string;
  stderr: string;
  ms: number;
}

async function runAt(endpoint: string, argv: string[], extra: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const bytes: Uint8Array[] = [];
  const started = performance.now();
  const code = await runCli(["-E", endpoint, ...extra, ...argv], { SOCLE_DATA_DIR: join(dir, "none") }, {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    writeBytes: async (b) => {
      bytes.push(b.slice());
    },
  }, { serve: async () => 0 });
  const raw = Buffer.concat(bytes).toString("utf8");
  return { code, out, err, stdout: raw + out.join("\n"), stderr: err.join("\n"), ms: performance.now() - started };
}

const cli = (argv: string[]) => runAt(t.base, argv, ["--ca-file", caFile, "-U", "admin", "-P", ADMIN_PASSWORD]);

const patch = (path: string, ops: unknown[]) => t.call("PATCH", path, { raw: JSON.stringify(ops), type: "application/json-patch+json" });

describe("tasks, stages and workflows through the generic verbs (real server)", () => {
  test("create, list, show, update, destroy", async () => {
    const task = await cli(["tasks", "create", "Name: hello\nTemplates:\n  - Name: run\n    Contents: echo hello"]);
    expect(task.stderr).toBe("");
    expect(task.code).toBe(0);
    expect(JSON.parse(task.stdout)).toMatchObject({ Name: "hello", Templates: [{ Name: "run", Path: "" }] });
    expect((await cli(["stages", "create", '{"Name":"greet","Tasks":["hello"]}'])).code).toBe(0);
    expect((await cli(["workflows", "create", '{"Name":"wf1","Stages":["greet"]}'])).code).toBe(0);

    const table = await cli(["-o", "table", "stages", "list", "Name=Eq(greet)"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^Name\s+BootEnv\s+Tasks\s+ReadOnly/);
    expect(table.stdout.split("\n")[1]).toMatch(/^greet\s+hello\s+false/);
    expect(JSON.parse((await cli(["workflows", "show", "wf1"])).stdout).Stages).toEqual(["greet"]);

    const upd = await cli(["workflows", "update", "wf1", '{"Name":"wf1","Stages":["greet","greet"],"Description":"twice"}']);
    expect(upd.code).toBe(0);
    expect(JSON.parse(upd.stdout)).toMatchObject({ Stages: ["greet", "greet"], Description: "twice" });

    // In use: the API's refusal is the CLI's one line, exit 1.
    const inUse = await cli(["tasks", "destroy", "hello"]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/^Error: Conflict 409: .*in use by/);
    for (const [type, key] of [["workflows", "wf1"], ["stages", "greet"], ["tasks", "hello"]] as const) {
      const r = await cli([type, "destroy", key]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`Deleted ${type.slice(0, -1)} ${key}`);
    }
  });
});

describe("jobs list, show and destroy (real server)", () => {
  test("a recorded job is listed, shown and destroyed", async () => {
    const m = (await t.call("POST", "/api/v3/machines", { body: { Name: "jobhost" } })).body;
    const uuid = crypto.randomUUID();
    await t.socle.store.put("jobs", uuid, {
      Uuid: uuid, Previous: "", Machine: m.Uuid, Task: "hello", Stage: "", Workflow: "", BootEnv: "local",
      State: "finished", ExitState: "complete", StartTime: "", EndTime: "", Archived: false,
      Validated: true, Available: true, Errors: [], ReadOnly: false, Meta: {},
    });
    const list = await cli(["-o", "table", "jobs", "list", `Machine=Eq(${m.Uuid})`]);
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^Uuid\s+Machine\s+Task\s+State\s+ExitState/);
    expect(list.stdout.split("\n")[1]).toContain(`${uuid}  ${m.Uuid}  hello  finished  complete`);
    expect(JSON.parse((await cli(["jobs", "show", uuid])).stdout).State).toBe("finished");
    expect((await cli(["jobs", "destroy", uuid])).stdout).toBe(`Deleted job ${uuid}`);
    expect((await cli(["jobs", "exists", uuid])).code).toBe(1);
    // No generic create/update/patch for jobs: they are the scheduler's.
    const nope = await cli(["jobs", "update", uuid, "{}"]);
    expect(nope.code).toBe(2);
    expect(nope.stderr).toStartWith('Error: unknown jobs command "update"');
  });
});

describe("machines runnable and machines wait (real server)", () => {
  test("runnable false|true patches Runnable; anything else is a usage error", async () => {
    const m = (await t.call("POST", "/api/v3/machines", { body: { Name: "gate" } })).body;
    const off = await cli(["machines", "runnable", "Name:gate", "false"]);
    expect(off.code).toBe(0);
    expect(JSON.parse(off.stdout).Runnable).toBe(false);
    expect((await t.call("GET", `/api/v3/machines/${m.Uuid}`)).body.Runnable).toBe(false);
    expect((await cli(["machines", "runnable", m.Uuid, "true"])).code).toBe(0);
    expect((await t.call("GET", `/api/v3/machines/${m.Uuid}`)).body.Runnable).toBe(true);
    const bad = await cli(["machines", "runnable", m.Uuid, "yes"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('Error: expected true or false, got "yes"\nusage: socle machines runnable <key> true|false');
  });

  test("wait returns as soon as the field has the value (long-poll, no polling)", async () => {
    const m = (await t.call("POST", "/api/v3/machines", { body: { Name: "waiter1" } })).body;
    const before = t.lines.length;
    const waiting = cli(["machines", "wait", "Name:waiter1", "Description", "ready", "--timeout", "20s"]);
    await Bun.sleep(400);
    await patch(`/api/v3/machines/${m.Uuid}`, [{ op: "replace", path: "/Description", value: "not yet" }]);
    await Bun.sleep(300);
    await patch(`/api/v3/machines/${m.Uuid}`, [{ op: "replace", path: "/Description", value: "ready" }]);
    const changedAt = performance.now();
    const r = await waiting;
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(performance.now() - changedAt).toBeLessThan(300);
    // One GET, then one long-poll per change: no polling loop.
    const gets = t.lines.slice(before).filter((l) => / request /.test(l) && l.includes("method=GET") && l.includes(`/api/v3/machines/${m.Uuid}`));
    expect(gets.length).toBeGreaterThanOrEqual(2);
    expect(gets.length).toBeLessThanOrEqual(3);
  });

  test("values compare as JSON or as text; a change made inside the server counts", async () => {
    const m = (await t.call("POST", "/api/v3/machines", { body: { Name: "waiter2" } })).body;
    expect((await cli(["machines", "wait", m.Uuid, "Runnable", "true"])).code).toBe(0);
    expect((await cli(["machines", "wait", m.Uuid, "Name", "waiter2"])).code).toBe(0);
    const waiting = cli(["machines", "wait", m.Uuid, "WorkflowComplete", "true", "--timeout", "20s"]);
    await Bun.sleep(300);
    const stored = t.socle.store.get("machines", m.Uuid)!;
    await t.socle.store.put("machines", m.Uuid, { ...structuredClone(stored), WorkflowComplete: true });
    expect((await waiting).code).toBe(0);
  });

  test("timeout: exit 1 after about the timeout, saying what the field holds", async () => {
    const m = (await t.call("POST", "/api/v3/machines", { body: { Name: "waiter3" } })).body;
    const r = await cli(["machines", "wait", m.Uuid, "Stage", "done", "--timeout", "1s"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: timed out after 1s: machine ${m.Uuid} has Stage "", waiting for done`);
    expect(r.ms).toBeGreaterThan(950);
    expect(r.ms).toBeLessThan(3000);
  });

  test("mistakes: a field the machine lacks, a bad duration, a machine deleted while waiting", async () => {
    const m = (await t.call("POST", "/api/v3/machines", { body: { Name: "waiter4" } })).body;
    const field = await cli(["machines", "wait", m.Uuid, "Runable", "true"]);
    expect(field.code).toBe(1);
    expect(field.stderr).toStartWith(`Error: machine ${m.Uuid} has no field "Runable" (fields: Address, Arch,`);
    const dur = await cli(["machines", "wait", m.Uuid, "Runnable", "true", "--timeout", "soon"]);
    expect(dur.code).toBe(2);
    expect(dur.stderr).toStartWith('Error: --timeout: invalid duration "soon"');
    const waiting = cli(["machines", "wait", m.Uuid, "Stage", "done", "--timeout", "20s"]);
    await Bun.sleep(300);
    await t.call("DELETE", `/api/v3/machines/${m.Uuid}`);
    const gone = await waiting;
    expect(gone.code).toBe(1);
    expect(gone.stderr).toStartWith("Error: NotFound 404:");
  });
});

describe("a workflow run by hand through the CLI (real server, real scheduler)", () => {
  test("jobs create, actions, log --follow while the log grows, machines wait for WorkflowComplete", async () => {
    expect((await cli(["tasks", "create", '{"Name":"say","Templates":[{"Name":"run","Contents":"echo hello from <%= it.Machine.Name %>"}]}'])).code).toBe(0);
    expect((await cli(["stages", "create", '{"Name":"saying","Tasks":["say"]}'])).code).toBe(0);
    expect((await cli(["workflows", "create", '{"Name":"talk","Stages":["saying"]}'])).code).toBe(0);
    const m = JSON.parse((await cli(["machines", "create", '{"Name":"talker","Workflow":"talk"}'])).stdout);
    expect(m.Tasks).toContain("say");

    const made = await cli(["jobs", "create", "Name:talker"]);
    expect(made.stderr).toBe("");
    expect(made.code).toBe(0);
    const job = JSON.parse(made.stdout);
    expect(job).toMatchObject({ Machine: m.Uuid, Task: "say", State: "created" });
    const again = await cli(["jobs", "create", m.Uuid]);
    expect(again.stderr).toBe(`machine ${m.Uuid} already has job ${job.Uuid} (State created): the same job again`);

    const actions = await cli(["jobs", "actions", job.Uuid]);
    expect(actions.code).toBe(0);
    expect(JSON.parse(actions.stdout)).toEqual([{ Name: "run", Path: "", Content: "echo hello from talker" }]);

    const jobPath = `/api/v3/jobs/${job.Uuid}`;
    expect((await patch(jobPath, [{ op: "test", path: "/State", value: "created" }, { op: "replace", path: "/State", value: "running" }])).status).toBe(200);
    const workflowDone = cli(["machines", "wait", m.Uuid, "WorkflowComplete", "true", "--timeout", "30s"]);
    const following = cli(["jobs", "log", "-f", job.Uuid]);
    let offset = 0;
    for (const chunk of ["hello from talker\n", "half a li", "ne, then more\n"]) {
      await Bun.sleep(400);
      const put = await t.req("PUT", `${jobPath}/log`, { raw: chunk, type: "text/plain", headers: { "Socle-Log-Offset": String(offset) } });
      expect(put.status).toBe(200);
      offset = Number(put.headers.get("socle-log-length"));
    }
    expect((await patch(jobPath, [{ op: "replace", path: "/State", value: "finished" }, { op: "replace", path: "/ExitState", value: "complete" }])).status).toBe(200);
    const endedAt = performance.now();
    const log = await following;
    expect(log.stderr).toBe("");
    expect(log.code).toBe(0);
    expect(log.stdout).toBe("hello from talker\nhalf a line, then more\n");
    expect(performance.now() - endedAt).toBeLessThan(500);
    expect((await cli(["jobs", "log", job.Uuid])).stdout).toBe("hello from talker\nhalf a line, then more\n");

    // The agent asks again: past the end of the workflow, nothing to run; the machine says so.
    const done = await cli(["jobs", "create", m.Uuid]);
    expect(done.code).toBe(0);
    expect(done.stdout).toBe("");
    expect(done.stderr).toMatch(new RegExp(`^no job for machine ${m.Uuid}: nothing to run now \\(BootEnv \\S+, WorkflowComplete true, Runnable true\\)$`));
    const waited = await workflowDone;
    expect(waited.stderr).toBe("");
    expect(waited.code).toBe(0);
    const list = await cli(["-o", "table", "jobs", "list", `Machine=Eq(${m.Uuid})`, "--sort", "Task"]);
    expect(list.stdout).toContain("say");
  });
});

// ---- a fake job API -----------------------------------------------------------------------------

interface FakeJobs {
  url: string;
  /** Appends to the log. */
  append(s: string): void;
  /** Sets the job's state (wakes long-polls). */
  setState(state: string, exit?: string): void;
  logGets: number[];
  jobGets: number;
  posts: unknown[];
  stop(): void;
}

const JOB = "11111111-2222-4333-8444-555555555555";
const MACHINE = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

function startFakeJobs(opts: { ranges: boolean; holds: boolean; createStatus?: number }): FakeJobs {
  let log = new Uint8Array(0);
  let job: Record<string, unknown> = { Uuid: JOB, Machine: MACHINE, Task: "hello", State: "running", ExitState: "" };
  let version = 1;
  let wake: (() => void)[] = [];
  const logGets: number[] = [];
  const posts: unknown[] = [];
  const fake: FakeJobs = {
    url: "",
    append(s) {
      log = Buffer.concat([log, Buffer.from(s)]);
    },
    setState(state, exit = "") {
      job = { ...job, State: state, ExitState: exit };
      version++;
      const w = wake;
      wake = [];
      for (const f of w) f();
    },
    logGets,
    jobGets: 0,
    posts,
    stop: () => server.stop(true),
  };
  const etag = () => `"v${version}"`;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const p = url.pathname;
      if (p === `/api/v3/jobs/${JOB}/log`) {
        logGets.push(performance.now());
        const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
        if (opts.ranges && range) {
          const from = Number(range[1]);
          if (from >= log.length) return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${log.length}` } });
          return new Response(log.slice(from), { status: 206, headers: { "Content-Range": `bytes ${from}-${log.length - 1}/${log.length}`, "Socle-Log-Length": String(log.length) } });
        }
        return new Response(log.slice(), { headers: { "Content-Type": "text/plain", "Socle-Log-Length": String(log.length) } });
      }
      if (p === `/api/v3/jobs/${JOB}/actions`) return Response.json([{ Name: "run", Path: "", Content: "echo hi\n" }]);
      if (p === `/api/v3/jobs/${JOB}`) {
        fake.jobGets++;
        const inm = req.headers.get("if-none-match");
        const wait = /wait=(\d+)s/.exec(req.headers.get("prefer") ?? "");
        if (inm === etag()) {
          if (opts.holds && wait) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, Number(wait[1]) * 1000);
              wake.push(() => {
                clearTimeout(timer);
                resolve();
              });
            });
          }
          if (inm === etag()) return new Response(null, { status: 304, headers: { ETag: etag() } });
        }
        return Response.json(job, { headers: { ETag: etag() } });
      }
      if (p === "/api/v3/machines/Name%3Anode1" || p === "/api/v3/machines/Name:node1") return Response.json({ Uuid: MACHINE, Name: "node1" });
      if (p === "/api/v3/jobs" && req.method === "POST") {
        posts.push(await req.json());
        const status = opts.createStatus ?? 201;
        if (status === 204) {
          return new Response(null, { status: 204, headers: { "Socle-Machine-BootEnv": "local", "Socle-Workflow-Complete": "true", "Socle-Machine-Runnable": "true" } });
        }
        return Response.json(job, { status, headers: { "Socle-Job": JOB, "Socle-Job-State": String(job.State) } });
      }
      return Response.json({ Type: "NotFound", Code: 404, Messages: [`no ${p}`] }, { status: 404 });
    },
  });
  fake.url = `http://127.0.0.1:${server.port}`;
  return fake;
}

const fakeCli = (f: FakeJobs, argv: string[]) => runAt(f.url, argv, ["-U", "admin", "-P", "pw"]);

describe("jobs log (fake job API)", () => {
  test("without --follow: the log as it is, bytes as sent", async () => {
    const f = startFakeJobs({ ranges: true, holds: true });
    try {
      f.append("line 1\nhalf a line ü");
      const r = await fakeCli(f, ["jobs", "log", JOB]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("line 1\nhalf a line ü");
    } finally {
      f.stop();
    }
  });

  for (const ranges of [true, false]) {
    test(`--follow prints each byte once until the job finishes (server ${ranges ? "with" : "without"} Range)`, async () => {
      const f = startFakeJobs({ ranges, holds: true });
      try {
        f.append("start\n");
        const following = fakeCli(f, ["jobs", "log", "-f", JOB]);
        for (let i = 1; i <= 5; i++) {
          await Bun.sleep(300);
          f.append(`step ${i}\n`);
        }
        f.append("last words\n");
        f.setState("finished", "complete");
        const endedAt = performance.now();
        const r = await following;
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(r.stdout).toBe("start\nstep 1\nstep 2\nstep 3\nstep 4\nstep 5\nlast words\n");
        // The end is seen through the long-poll, at once; the log is read at most once a second.
        expect(performance.now() - endedAt).toBeLessThan(300);
        const gaps = f.logGets.slice(1).map((at, i) => at - (f.logGets[i] as number));
        expect(gaps.slice(0, -1).every((g) => g > 950)).toBe(true);
        expect(f.jobGets).toBeLessThanOrEqual(3);
      } finally {
        f.stop();
      }
    });
  }

  test("--follow of a job that fails: exit 1 naming it; incomplete: exit 0 with a note", async () => {
    const f = startFakeJobs({ ranges: true, holds: true });
    try {
      f.append("oops\n");
      const following = fakeCli(f, ["jobs", "log", "--follow", JOB]);
      await Bun.sleep(200);
      f.setState("failed", "failed");
      const r = await following;
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("oops\n");
      expect(r.stderr).toBe(`Error: job ${JOB} failed (ExitState failed)`);
      f.setState("incomplete", "incomplete");
      const again = await fakeCli(f, ["jobs", "log", "-f", JOB]);
      expect(again.code).toBe(0);
      expect(again.stderr).toBe(`job ${JOB} is incomplete: the scheduler hands it out again`);
    } finally {
      f.stop();
    }
  });

  test("--follow against a server that does not hold long-polls asks at most once a second", async () => {
    const f = startFakeJobs({ ranges: true, holds: false });
    try {
      const following = fakeCli(f, ["jobs", "log", "-f", JOB]);
      await Bun.sleep(2500);
      f.append("done\n");
      f.setState("finished", "complete");
      const r = await following;
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("done\n");
      expect(f.jobGets).toBeLessThanOrEqual(5);
      expect(f.logGets.length).toBeLessThanOrEqual(5);
    } finally {
      f.stop();
    }
  });
});

describe("jobs create and actions (fake job API)", () => {
  test("create posts the machine's Uuid (a Name: reference looked up first) and prints the job", async () => {
    const f = startFakeJobs({ ranges: true, holds: true });
    try {
      const r = await fakeCli(f, ["jobs", "create", "Name:node1"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).Uuid).toBe(JOB);
      expect((await fakeCli(f, ["jobs", "create", MACHINE])).code).toBe(0);
      expect(f.posts).toEqual([{ Machine: MACHINE }, { Machine: MACHINE }]);
    } finally {
      f.stop();
    }
  });

  test("202: the same job again, said on stderr; 204: nothing to run, with the machine's state", async () => {
    const resumed = startFakeJobs({ ranges: true, holds: true, createStatus: 202 });
    const idle = startFakeJobs({ ranges: true, holds: true, createStatus: 204 });
    try {
      const r = await fakeCli(resumed, ["jobs", "create", MACHINE]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe(`machine ${MACHINE} already has job ${JOB} (State running): the same job again`);
      expect(JSON.parse(r.stdout).Uuid).toBe(JOB);
      const n = await fakeCli(idle, ["jobs", "create", MACHINE]);
      expect(n.code).toBe(0);
      expect(n.stdout).toBe("");
      expect(n.stderr).toBe(`no job for machine ${MACHINE}: nothing to run now (BootEnv local, WorkflowComplete true, Runnable true)`);
    } finally {
      resumed.stop();
      idle.stop();
    }
  });

  test("actions prints the job's actions", async () => {
    const f = startFakeJobs({ ranges: true, holds: true });
    try {
      const r = await fakeCli(f, ["-o", "yaml", "jobs", "actions", JOB]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('- Name: run\n  Path: ""\n  Content: |\n    echo hi');
    } finally {
      f.stop();
    }
  });
});
