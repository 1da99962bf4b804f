// The real agent (assets/agent/socle-agent) against the real server, over HTTPS on loopback: the
// contract both sides were written to (test/agent/fake-socle.ts stands in for the server in the
// agent's own tests, test/jobs-api.test.ts for the agent in the server's). A stage of two tasks
// (a file and a script, a script that reads what the first wrote) runs to WorkflowComplete; then
// the agent is killed with -9 in the middle of a job and started again: it stops the task the
// first one left running, resumes the same job (202), keeps every byte the server held, runs the
// task anew (a resumed job runs from its first action), and the job ends finished.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestSocle, type TestSocle } from "../helpers/socle.ts";

const AGENT = join(import.meta.dir, "../../assets/agent/socle-agent");
const CURL = Bun.which("curl");
const SH = Bun.which("sh");
let s: TestSocle;
let dir = "";

const must = async (method: string, path: string, body?: unknown) => {
  const r = await s.call(method, `/api/v3${path}`, { body });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

beforeAll(async () => {
  s = await startTestSocle();
  dir = mkdtempSync(join(tmpdir(), "socle-agent-real-"));
});
afterAll(async () => {
  await s?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function machineOn(stage: string, name: string): Promise<{ uuid: string; token: string }> {
  const uuid = (await must("POST", "/machines", { Name: name, BootEnv: "discovery", Stage: stage })).Uuid;
  return { uuid, token: (await must("GET", `/machines/${uuid}/token`)).Token };
}

function agent(m: { uuid: string; token: string }, state: string) {
  return Bun.spawn([SH!, AGENT], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      RS_CONFIG: join(dir, "none.env"),
      RS_ENDPOINT: `https://127.0.0.1:${s.socle.apiPort}`,
      RS_UUID: m.uuid,
      RS_TOKEN: m.token,
      RS_BOOTENV: "discovery",
      RS_CA: join(s.dir, "pki", "ca.pem"),
      RS_STATE: state,
      RS_ONESHOT: "1",
      RS_WAIT: "2",
      RS_BACKOFF_MAX: "1",
      RS_REBOOT_CMD: "true",
      RS_POWEROFF_CMD: "true",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
}

test.skipIf(!CURL || !SH)("a stage of a file and a script runs to WorkflowComplete; every job finished, with its log", async () => {
  const out = join(dir, "written.txt");
  await must("POST", "/tasks", { Name: "write-file", Templates: [{ Name: "f", Path: out, Contents: "machine <%= it.Machine.Name %>\n" }] });
  await must("POST", "/tasks", { Name: "read-file", Templates: [{ Name: "s", Contents: `echo "read: $(cat ${out})"; echo "job $RS_JOB in $RS_TASKDIR"` }] });
  await must("POST", "/stages", { Name: "two-tasks", Tasks: ["write-file", "read-file"] });
  const m = await machineOn("two-tasks", "real-agent-1");
  const p = agent(m, join(dir, "state-1"));
  const code = await p.exited;
  const err = await new Response(p.stderr).text();
  expect(`${code} ${err.slice(-400)}`).toStartWith("0 ");
  const machine = await must("GET", `/machines/${m.uuid}`);
  expect(machine.WorkflowComplete).toBe(true);
  const jobs = (await must("GET", `/jobs?Machine=Eq(${m.uuid})`)) as Array<Record<string, string>>;
  const tasks = jobs.filter((j) => !(j.Task ?? "").startsWith("stage:"));
  expect(tasks.map((j) => `${j.Task} ${j.State} ${j.ExitState}`).sort()).toEqual(["read-file finished complete", "write-file finished complete"]);
  const read = tasks.find((j) => j.Task === "read-file")!;
  const log = await (await s.req("GET", `/api/v3/jobs/${read.Uuid}/log`)).text();
  expect(log).toContain("read: machine real-agent-1\n");
  expect(log).toContain(`job ${read.Uuid} in `);
}, 60_000);

test.skipIf(!CURL || !SH)("kill -9 of the agent mid-job: started again, it resumes the same job, keeps what the server held and runs the task anew", async () => {
  await must("POST", "/tasks", { Name: "counts", Templates: [{ Name: "s", Contents: `i=0; while [ $i -lt 8 ]; do echo "line $i"; i=$((i+1)); sleep 0.5; done` }] });
  await must("POST", "/stages", { Name: "counting", Tasks: ["counts"] });
  const m = await machineOn("counting", "real-agent-2");
  const state = join(dir, "state-2");
  const first = agent(m, state);
  // Wait until the server holds some of the job's log, then kill the agent.
  let job = "";
  let held = "";
  for (let i = 0; i < 100 && !job; i++) {
    await Bun.sleep(100);
    const jobs = (await must("GET", `/jobs?Machine=Eq(${m.uuid})&Task=Eq(counts)`)) as Array<Record<string, string>>;
    const j = jobs[0];
    if (!j) continue;
    const text = await (await s.req("GET", `/api/v3/jobs/${j.Uuid}/log`)).text();
    if (text.includes("line 1\n")) [job, held] = [j.Uuid!, text];
  }
  expect(job).not.toBe("");
  first.kill(9);
  await first.exited;
  const second = agent(m, state);
  expect(await second.exited).toBe(0);
  const j = await must("GET", `/jobs/${job}`);
  expect([j.State, j.ExitState]).toEqual(["finished", "complete"]);
  const log = await (await s.req("GET", `/api/v3/jobs/${job}/log`)).text();
  // What the server held at the kill is still there, first; the task then ran anew, whole.
  expect(log.startsWith(held)).toBe(true);
  const resumed = log.indexOf(`job ${job}: resumed`);
  expect(resumed).toBeGreaterThan(0);
  const rerun = log.slice(resumed);
  for (let i = 0; i < 8; i++) expect(rerun.split(`line ${i}\n`).length - 1).toBe(1);
}, 60_000);
