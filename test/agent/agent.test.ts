// The Socle agent (assets/agent/socle-agent) run as machines run it: under busybox sh with only
// busybox applets and curl (the discovery image), under dash with the host's tools, and with GNU
// wget instead of curl, against a fake job server (fake-socle.ts) over TLS from Socle's own PKI
// on 127.0.0.1. What the server ends up holding (job states, log bytes) is the verdict.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePki } from "../../src/pki/pki.ts";
import { nullLogger } from "../../src/log/logger.ts";
import { FakeSocle, type Action } from "./fake-socle.ts";

setDefaultTimeout(30_000);

const AGENT_DIR = join(import.meta.dir, "../../assets/agent");
const AGENT = join(AGENT_DIR, "socle-agent");
const BUSYBOX = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
const DASH = ["/usr/bin/dash", "/bin/dash"].find((p) => existsSync(p));
const CURL = ["/usr/bin/curl", "/bin/curl"].find((p) => existsSync(p));
const GNU_WGET = ["/usr/bin/wget", "/bin/wget"].find((p) => existsSync(p) && !statSync(p).isSymbolicLink());
/**
 * The applets the agent and the test scripts use, linked as the PATH of the busybox runs. Debian's
 * busybox sh prefers its own applets to PATH anyway (FEATURE_SH_STANDALONE), as the discovery
 * image's does: PATH decides only what busybox lacks (curl) and what the agent runs by its full
 * path (wget, found in PATH).
 */
const APPLETS = [
  "sh", "cat", "sed", "tr", "head", "tail", "wc", "grep", "cut", "mkdir", "rm", "mv", "chmod", "sleep", "setsid",
  "kill", "ls", "env", "touch", "echo", "printf", "test", "[", "true", "false", "pwd", "id", "date",
];

interface Toolset {
  name: string;
  /** PATH for the agent. */
  path: string;
}

let dir = "";
let tls = { cert: "", key: "" };
let otherTls = { cert: "", key: "" };
let caPath = "";
const tools: Record<"busyboxCurl" | "dashCurl" | "busyboxWget" | "busyboxOnly", Toolset | undefined> = {
  busyboxCurl: undefined,
  dashCurl: undefined,
  busyboxWget: undefined,
  busyboxOnly: undefined,
};
let seq = 0;

function binDir(name: string, links: Record<string, string>): Toolset {
  const bin = join(dir, `bin-${name}`);
  mkdirSync(bin);
  for (const [n, target] of Object.entries(links)) symlinkSync(target, join(bin, n));
  return { name, path: bin };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "socle-agent-"));
  const pki = await ensurePki(join(dir, "pki"), { log: nullLogger, addresses: ["127.0.0.1"] });
  tls = { cert: readFileSync(pki.certPath, "utf8"), key: readFileSync(pki.keyPath, "utf8") };
  caPath = pki.caPath;
  const other = await ensurePki(join(dir, "pki-other"), { log: nullLogger, addresses: ["127.0.0.1"] });
  otherTls = { cert: readFileSync(other.certPath, "utf8"), key: readFileSync(other.keyPath, "utf8") };
  if (BUSYBOX) {
    const applets = Object.fromEntries(APPLETS.map((a) => [a, BUSYBOX]));
    if (CURL) tools.busyboxCurl = binDir("busybox-curl", { ...applets, curl: CURL });
    if (GNU_WGET) tools.busyboxWget = binDir("busybox-wget", { ...applets, wget: GNU_WGET });
    tools.busyboxOnly = binDir("busybox-only", { ...applets, wget: BUSYBOX });
  }
  if (DASH && CURL) {
    const t = binDir("dash-curl", { sh: DASH, curl: CURL });
    tools.dashCurl = { name: "dash-curl", path: `${t.path}:/usr/bin:/bin` };
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface AgentRun {
  proc: ReturnType<typeof Bun.spawn>;
  done: Promise<{ code: number; out: string }>;
  /** RS_STATE of this run. */
  state: string;
  /** What RS_REBOOT_CMD and RS_POWEROFF_CMD recorded, one word a line. */
  powerFile: string;
}

/** A fresh name under the test directory. */
function fresh(prefix: string): string {
  return join(dir, `${prefix}-${++seq}`);
}

/** Starts the agent (RS_ONESHOT=1 unless env says otherwise); killed after `timeoutMs`. */
function startAgent(server: FakeSocle, t: Toolset, env: Record<string, string | undefined> = {}, timeoutMs = 20_000): AgentRun {
  const n = ++seq;
  const powerFile = join(dir, `power-${n}`);
  const all: Record<string, string | undefined> = {
    PATH: t.path,
    RS_CONFIG: join(dir, "no-such-agent.env"),
    RS_ENDPOINT: server.url,
    RS_UUID: server.uuid,
    RS_TOKEN: server.token,
    RS_BOOTENV: "discovery",
    RS_CA: caPath,
    RS_STATE: join(dir, `state-${n}`),
    RS_ONESHOT: "1",
    RS_REBOOT_CMD: `echo reboot >> ${powerFile}`,
    RS_POWEROFF_CMD: `echo poweroff >> ${powerFile}`,
    RS_WAIT: "2",
    RS_BACKOFF_MAX: "1",
    ...env,
  };
  const proc = Bun.spawn([join(t.path.split(":")[0]!, "sh"), AGENT], {
    env: Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined)),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(9), timeoutMs);
  const done = (async () => {
    const [o, e, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    return { code, out: o + e };
  })();
  return { proc, done, state: all.RS_STATE!, powerFile };
}

async function runAgent(server: FakeSocle, t: Toolset, env: Record<string, string | undefined> = {}, timeoutMs = 20_000) {
  const run = startAgent(server, t, env, timeoutMs);
  const r = await run.done;
  return { ...r, state: run.state, power: existsSync(run.powerFile) ? readFileSync(run.powerFile, "utf8").trim().split("\n") : [] };
}

function fake(): FakeSocle {
  return new FakeSocle(tls).start();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

const script = (Name: string, Content: string): Action => ({ Name, Content });
const count = (text: string, part: string) => text.split(part).length - 1;

/** Runs the full job check with one toolset: files first, scripts in order, environment, log. */
async function checkJob(t: Toolset) {
  const server = fake();
  const root = mkdtempSync(join(dir, "root-"));
  const motd = join(root, "etc/motd.d/socle");
  server.addTask("inventory", [
    script(
      "first",
      [
        'echo "first pwd=$(pwd) job=$RS_JOB uuid=$RS_UUID token=$RS_TOKEN endpoint=$RS_ENDPOINT ca=$RS_CA taskdir=$RS_TASKDIR"',
        `cat ${motd}`,
        "touch leftover",
        "echo to-stderr >&2",
      ].join("\n"),
    ),
    { Name: "motd", Path: motd, Content: "hello from socle\n" },
    script("second", 'echo "second sees: [$(ls -A)]"'),
  ]);
  server.addTask("two", [script("ok", "echo two")]);
  try {
    const r = await runAgent(server, t);
    expect(r.out).toContain("workflow complete");
    expect(r.code).toBe(0);
    const [job1, job2] = [...server.jobs.values()];
    expect(job1!.state).toBe("finished");
    expect(job1!.exitState).toBe("complete");
    expect(job2!.state).toBe("finished");
    expect(readFileSync(motd, "utf8")).toBe("hello from socle\n");
    expect(statSync(motd).mode & 0o777).toBe(0o644);
    const log = server.logText(job1);
    const taskdir = join(r.state, "task");
    expect(log).toContain(
      `first pwd=${taskdir} job=${job1!.id} uuid=${server.uuid} token=${job1!.token} endpoint=${server.url} ca=${caPath} taskdir=${taskdir}\n`,
    );
    expect(log).toContain("hello from socle\n"); // the file was written before the first script
    expect(log).toContain("to-stderr\n");
    expect(log).toContain("second sees: []\n"); // a fresh task directory
    expect(log.indexOf("[1] motd: writing")).toBeLessThan(log.indexOf("[0] first: running"));
    expect(log.indexOf("[0] first: exit 0")).toBeLessThan(log.indexOf("[2] second: running"));
    expect(server.logText(job2)).toContain("two\n");
    // The agent's own copy of the log is what the server holds, byte for byte.
    expect(readFileSync(join(r.state, "log"), "utf8")).toBe(server.logText(job2));
    expect(server.askStatuses()).toEqual([201, 201, 204]);
    expect(job1!.patches).toEqual([
      [
        { op: "test", path: "/State", value: "created" },
        { op: "replace", path: "/State", value: "running" },
      ],
      [
        { op: "test", path: "/State", value: "running" },
        { op: "replace", path: "/State", value: "finished" },
        { op: "replace", path: "/ExitState", value: "complete" },
      ],
    ]);
    const paths = server.requests.filter((q) => q.path.includes(job1!.id)).map((q) => `${q.method} ${q.path.replace(job1!.id, "J")}${q.query}`);
    expect(paths.slice(0, 4)).toEqual(["PATCH /api/v3/jobs/J", "GET /api/v3/jobs/J/actions?format=list", "GET /api/v3/jobs/J/actions/1", "GET /api/v3/jobs/J/actions/0"]);
    expect(new Set(server.requests.map((q) => q.auth))).toEqual(new Set([`Bearer ${server.token}`]));
    const ask = server.requests.find((q) => q.method === "POST")!;
    expect(JSON.parse(ask.body)).toEqual({ Machine: server.uuid, BootEnv: "discovery" });
    expect(ask.headers["content-type"]).toBe("application/json");
  } finally {
    server.stop();
  }
}

/** A task that prints a line, sleeps 3 s, prints another: the first reaches the server before the end. */
async function checkStreaming(t: Toolset) {
  const server = fake();
  server.addTask("slow", [script("slow", "echo first line; sleep 3; echo second line")]);
  try {
    const r = await runAgent(server, t);
    expect(r.code).toBe(0);
    const firstAt = server.logEvents.find((e) => e.text.includes("first line\n"))!.time;
    const secondAt = server.logEvents.find((e) => e.text.includes("second line\n"))!.time;
    expect(secondAt - firstAt).toBeGreaterThan(1_500);
    const puts = server.requests.filter((q) => q.method === "PUT");
    expect(puts.every((q) => /^\d+$/.test(q.headers["socle-log-offset"] ?? ""))).toBe(true);
    expect(puts.every((q) => q.body.length <= 65536)).toBe(true);
  } finally {
    server.stop();
  }
}

/** The server stops (connection refused) for 3 s while a script streams output, then comes back. */
async function checkServerRestart(t: Toolset) {
  const server = fake();
  const lines = 40;
  server.addTask("long", [script("count", `i=0; while [ $i -lt ${lines} ]; do echo "line $i"; i=$((i + 1)); sleep 0.1; done`)]);
  const run = startAgent(server, t, { RS_BACKOFF_MAX: "2" });
  try {
    await server.until(() => server.logText().includes("line 5\n"), 10_000, "line 5 on the server");
    server.stop();
    await Bun.sleep(3_000);
    server.start();
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(r.out).toContain("again in");
    const log = server.logText();
    for (let i = 0; i < lines; i++) expect(count(log, `line ${i}\n`)).toBe(1);
    expect(log).toBe(readFileSync(join(run.state, "log"), "utf8"));
    expect([server.current!.state, server.current!.exitState]).toEqual(["finished", "complete"]);
  } finally {
    run.proc.kill(9);
    server.stop();
  }
}

/** kill -9 of the agent mid-job, then a new agent on the same RS_STATE. */
async function checkAgentRestart(t: Toolset) {
  const server = fake();
  server.addTask("t", [script("s", "echo start; sleep 3; echo end")]);
  const state = fresh("state-kill");
  const first = startAgent(server, t, { RS_STATE: state });
  try {
    await server.until(() => server.logText().includes("start\n"), 10_000, "start on the server");
    first.proc.kill(9);
    await first.done;
    const held = server.logText();
    const second = await runAgent(server, t, { RS_STATE: state });
    expect(second.code).toBe(0);
    expect(second.out).toContain("stopping the task a previous agent left running");
    const log = server.logText();
    expect(log.startsWith(held)).toBe(true);
    expect(log).toContain("resumed (it was running)");
    expect(count(log, "start\n")).toBe(2);
    expect(count(log, "end\n")).toBe(1); // the killed agent's task did not go on
    expect(log).toBe(readFileSync(join(state, "log"), "utf8"));
    expect(server.askStatuses()).toEqual([201, 202, 204]);
    expect([server.current!.state, server.current!.exitState]).toEqual(["finished", "complete"]);
  } finally {
    first.proc.kill(9);
    server.stop();
  }
}

/** SIGTERM while a task runs, and while idle in a long poll. */
async function checkSigterm(t: Toolset) {
  const server = fake();
  const pidFile = fresh("task-pid");
  server.addTask("t", [script("s", `echo $$ > ${pidFile}; echo started; sleep 30 & wait; echo never`)]);
  try {
    const busy = startAgent(server, t);
    await server.until(() => server.logText().includes("started\n"), 10_000, "started on the server");
    const t0 = Date.now();
    busy.proc.kill("SIGTERM");
    const r = await busy.done;
    expect(r.code).toBe(143);
    expect(Date.now() - t0).toBeLessThan(3_000);
    const taskPid = Number(readFileSync(pidFile, "utf8"));
    await server.until(() => !alive(taskPid), 3_000, "the task to end");
    expect(server.current!.state).toBe("running"); // handed out again at the next start
    const idleServer = fake();
    const idle = startAgent(idleServer, t, { RS_ONESHOT: "0", RS_WAIT: "30" });
    try {
      await idleServer.until(() => idleServer.requests.some((q) => q.headers["prefer"] === "wait=30s"), 10_000, "a long poll");
      const t1 = Date.now();
      idle.proc.kill("SIGTERM");
      expect((await idle.done).code).toBe(143);
      expect(Date.now() - t1).toBeLessThan(2_000);
    } finally {
      idle.proc.kill(9);
      idleServer.stop();
    }
  } finally {
    server.stop();
  }
}

/** The init script: start, status, stop, and no restart after exit 16. */
async function checkInit(t: Toolset) {
  const server = fake();
  const base = mkdtempSync(join(dir, "init-"));
  const env = {
    PATH: t.path,
    SOCLE_AGENT: AGENT,
    SOCLE_AGENT_LOG: join(base, "log/socle-agent.log"),
    SOCLE_AGENT_PIDFILE: join(base, "run/socle-agent.pid"),
    RS_CONFIG: join(dir, "no-such-agent.env"),
    RS_ENDPOINT: server.url,
    RS_UUID: server.uuid,
    RS_TOKEN: server.token,
    RS_BOOTENV: "discovery",
    RS_CA: caPath,
    RS_STATE: join(base, "state"),
    RS_WAIT: "30",
  };
  const init = async (verb: string) => {
    const p = Bun.spawn([join(t.path, "sh"), join(AGENT_DIR, "socle-agent.init"), verb], { env, stdout: "pipe", stderr: "pipe" });
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    return { out, code };
  };
  try {
    expect((await init("start")).out).toContain("socle-agent: started (pid ");
    expect((await init("status")).out).toContain("running (pid ");
    await server.until(() => server.requests.some((q) => q.headers["prefer"] === "wait=30s"), 10_000, "the agent's long poll");
    expect(await init("stop")).toEqual({ out: "socle-agent: stopped\n", code: 0 });
    expect(await init("status")).toEqual({ out: "socle-agent: not running\n", code: 3 });
    expect(readFileSync(env.SOCLE_AGENT_LOG, "utf8")).toContain(`socle-agent: machine ${server.uuid} in discovery`);

    server.addTask("stop", [script("stop", "exit 16")]);
    await init("start");
    await server.until(() => server.current?.exitState === "stop", 10_000, "the stop task");
    await server.until(() => !alive(Number(readFileSync(env.SOCLE_AGENT_PIDFILE, "utf8"))), 5_000, "the supervisor to end");
    expect(readFileSync(env.SOCLE_AGENT_LOG, "utf8")).toContain("socle-agent: exited 16\n");
  } finally {
    await init("stop");
    server.stop();
  }
}

describe.skipIf(!BUSYBOX || !CURL)("socle-agent under busybox sh with curl", () => {
  const t = () => tools.busyboxCurl!;

  test("runs a job: files first at their paths (0644), then scripts in a fresh task directory with the job's environment", async () => {
    await checkJob(t());
  });

  test("exit codes: 0 complete, 128 incomplete (the same job again, 202), 64 reboot", async () => {
    const server = fake();
    const mark = fresh("m128");
    server.addTask("zero", [script("zero", "exit 0")]);
    server.addTask("again", [script("again", `if [ -e ${mark} ]; then echo second pass; exit 0; fi; touch ${mark}; echo first pass; exit 128`)]);
    server.addTask("reboot", [script("reboot", "exit 64")]);
    server.addTask("never", [script("never", "echo never")]);
    try {
      const r = await runAgent(server, t());
      expect(r.code).toBe(0);
      expect(r.power).toEqual(["reboot"]);
      const [zero, again, reboot] = [...server.jobs.values()];
      expect([zero!.state, zero!.exitState]).toEqual(["finished", "complete"]);
      expect([again!.state, again!.exitState]).toEqual(["finished", "complete"]);
      expect(again!.patches[1]).toContainEqual({ op: "replace", path: "/State", value: "incomplete" });
      expect(again!.patches[2]).toContainEqual({ op: "test", path: "/State", value: "incomplete" });
      expect(server.logText(again)).toContain("first pass\n");
      expect(server.logText(again)).toContain("second pass\n");
      expect([reboot!.state, reboot!.exitState]).toEqual(["finished", "reboot"]);
      expect(server.askStatuses()).toEqual([201, 201, 202, 201]);
      expect(server.queue.length).toBe(1); // nothing asked after the reboot
    } finally {
      server.stop();
    }
  });

  test("exit codes: 16 stop (agent exits 16), 32 poweroff, 192 incomplete + reboot", async () => {
    for (const [code, state, exitState, agentCode, power] of [
      [16, "finished", "stop", 16, []],
      [32, "finished", "poweroff", 0, ["poweroff"]],
      [192, "incomplete", "reboot", 0, ["reboot"]],
    ] as const) {
      const server = fake();
      server.addTask("t", [script("t", `exit ${code}`), script("after", "echo not reached")]);
      try {
        const r = await runAgent(server, t());
        expect(r.code).toBe(agentCode);
        expect(r.power).toEqual([...power]);
        const job = server.current!;
        expect([job.state, job.exitState]).toEqual([state, exitState]);
        expect(server.logText()).not.toContain("not reached");
        expect(server.askStatuses()).toEqual([201]);
      } finally {
        server.stop();
      }
    }
  });

  test("a log the server refuses for good (404: the job was deleted) is dropped, not resent forever: the job still ends", async () => {
    const server = fake();
    server.addTask("orphaned", [script("orphaned", "echo one; echo two")]);
    server.logRefusal = 404;
    try {
      const r = await runAgent(server, t());
      expect(r.code).toBe(0);
      const [job] = [...server.jobs.values()];
      expect([job!.state, job!.exitState]).toEqual(["finished", "complete"]);
      expect(server.logEvents.every((e) => e.status === 404)).toBe(true);
      expect(server.logEvents.length).toBeLessThan(5);
    } finally {
      server.stop();
    }
  });

  test("marking running: a 409 (someone else took the job) means ask again", async () => {
    const server = fake();
    server.addTask("t", [script("s", "echo ran")]);
    let first = true;
    server.beforePatch = (job) => {
      if (first) job.state = "running"; // another agent marked it first
      first = false;
    };
    try {
      const r = await runAgent(server, t());
      expect(r.code).toBe(0);
      expect(server.askStatuses()).toEqual([201, 202, 204]);
      expect(server.current!.patches.map((p: any) => p[0].value)).toEqual(["created", "running", "running"]);
      expect([server.current!.state, server.current!.exitState]).toEqual(["finished", "complete"]);
      expect(count(server.logText(), "ran\n")).toBe(1);
    } finally {
      server.stop();
    }
  });

  test("finishing: an answer lost after the server applied it (503, then 409 on the retry) still reboots", async () => {
    const server = fake();
    server.addTask("t", [script("s", "exit 64")]);
    let lost = 0;
    server.afterPatch = (job) => (job.state === "finished" && lost++ === 0 ? new Response("busy", { status: 503 }) : undefined);
    try {
      const r = await runAgent(server, t());
      expect(r.code).toBe(0);
      expect(r.power).toEqual(["reboot"]);
      expect([server.current!.state, server.current!.exitState]).toEqual(["finished", "reboot"]);
      expect(server.requests.filter((q) => q.method === "PATCH").map((q) => q.status)).toEqual([200, 503, 409]);
    } finally {
      server.stop();
    }
  });

  test("any other exit code fails the job and stops the rest; not runnable then: RS_ONESHOT exits 3", async () => {
    const server = fake();
    server.addTask("t", [script("bad", "echo failing; exit 3"), script("after", "echo not reached")]);
    try {
      const r = await runAgent(server, t());
      expect(r.code).toBe(3);
      expect(r.out).toContain("is not runnable");
      const job = server.current!;
      expect([job.state, job.exitState]).toEqual(["failed", "failed"]);
      expect(server.logText()).toContain("failing\n");
      expect(server.logText()).toContain("[0] bad: exit 3");
      expect(server.logText()).not.toContain("not reached");
      expect(server.askStatuses()).toEqual([201, 409]);
    } finally {
      server.stop();
    }
  });

  test("a file Path that is not absolute or holds .. fails the job, and nothing is written", async () => {
    for (const path of ["etc/relative", `${dir}/x/../escape`]) {
      const server = fake();
      server.addTask("t", [{ Name: "f", Path: path, Content: "x" }, script("s", "echo not reached")]);
      try {
        const r = await runAgent(server, t());
        expect(r.code).toBe(3);
        expect([server.current!.state, server.current!.exitState]).toEqual(["failed", "failed"]);
        expect(server.logText()).toContain(`path "${path}"`);
        expect(server.logText()).not.toContain("not reached");
        expect(server.requests.some((q) => q.path.endsWith("/actions/0"))).toBe(false);
        expect(existsSync(join(dir, "escape"))).toBe(false);
      } finally {
        server.stop();
      }
    }
  });

  test("204 with another BootEnv reboots into it; 409 with another BootEnv too", async () => {
    for (const runnable of [true, false]) {
      const server = fake();
      server.machine.bootEnv = "debian-12-install";
      server.machine.runnable = runnable;
      try {
        const r = await runAgent(server, t());
        expect(r.code).toBe(0);
        expect(r.power).toEqual(["reboot"]);
        expect(r.out).toContain("now boots debian-12-install, not discovery");
        expect(server.askStatuses()).toEqual([runnable ? 204 : 409]);
      } finally {
        server.stop();
      }
    }
  });

  test("idle: long-polls the machine (If-None-Match, Prefer: wait) and asks again as soon as it changes", async () => {
    const server = fake();
    const run = startAgent(server, t(), { RS_ONESHOT: "0", RS_WAIT: "8" });
    try {
      await server.until(() => server.requests.some((q) => q.headers["if-none-match"]), 10_000, "a long poll");
      const poll = server.requests.find((q) => q.headers["if-none-match"])!;
      expect(poll.path).toBe(`/api/v3/machines/${server.uuid}`);
      expect(poll.headers["prefer"]).toBe("wait=8s");
      expect(poll.headers["if-none-match"]).toBe(`"m${server.machine.version}"`);
      const t0 = Date.now();
      server.addTask("stop", [script("stop", "echo stopping; exit 16")]);
      server.touch();
      const r = await run.done;
      expect(r.code).toBe(16);
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(server.askStatuses()).toEqual([204, 201]);
      expect([server.current!.state, server.current!.exitState]).toEqual(["finished", "stop"]);
    } finally {
      run.proc.kill(9);
      server.stop();
    }
  });

  test("not runnable (409): waits for the machine to change, then runs the next job", async () => {
    const server = fake();
    server.machine.runnable = false;
    const run = startAgent(server, t(), { RS_ONESHOT: "0", RS_WAIT: "8" });
    try {
      await server.until(() => server.requests.some((q) => q.headers["if-none-match"]), 10_000, "a long poll");
      server.machine.runnable = true;
      server.addTask("stop", [script("stop", "exit 16")]);
      server.touch();
      const r = await run.done;
      expect(r.code).toBe(16);
      expect(r.out).toContain("is not runnable: waiting");
      expect(server.askStatuses()).toEqual([409, 201]);
    } finally {
      run.proc.kill(9);
      server.stop();
    }
  });

  test("resuming without RS_STATE: the log goes on after the bytes the server holds", async () => {
    const server = fake();
    const job = server.seedJob("t", [script("s", "echo again")], "running", "held before\n");
    const r = await runAgent(server, t());
    server.stop();
    expect(r.code).toBe(0);
    const log = server.logText(job);
    expect(log.startsWith("held before\nsocle-agent: job")).toBe(true);
    expect(log).toBe("held before\n" + readFileSync(join(r.state, "log"), "utf8"));
    expect(server.askStatuses()).toEqual([202, 204]);
  });

  test("RS_STATE ahead of the server (409 Socle-Log-Length): resends from what the server holds", async () => {
    const server = fake();
    const spool = "line A\nline B\nline C\nline D\nline E\nline F\n";
    const job = server.seedJob("t", [script("s", "echo again")], "running", spool.slice(0, 14));
    const state = fresh("state-ahead");
    mkdirSync(state);
    writeFileSync(join(state, "log"), spool);
    writeFileSync(join(state, "progress"), `${job.id} 0 35\n`);
    const r = await runAgent(server, t(), { RS_STATE: state });
    server.stop();
    expect(r.code).toBe(0);
    const events = server.logEvents.map((e) => [e.offset, e.status]);
    expect(events[0]).toEqual([35, 409]);
    expect(events[1]).toEqual([14, 200]);
    expect(server.logText(job)).toBe(readFileSync(join(state, "log"), "utf8"));
    expect(server.logText(job).startsWith(spool)).toBe(true);
  });

  test("a server whose certificate another CA signed is refused: exit 4, no request (so no token) reaches it", async () => {
    const server = new FakeSocle(otherTls).start();
    try {
      const r = await runAgent(server, t());
      expect(r.code).toBe(4);
      expect(r.out).toContain("server certificate not accepted with RS_CA=");
      expect(server.requests.length).toBe(0);
    } finally {
      server.stop();
    }
  });

  test("configuration: /etc/socle/agent.env form read from RS_CONFIG, the environment wins; a missing value is named", async () => {
    const server = fake();
    const conf = join(dir, "agent.env");
    writeFileSync(
      conf,
      [
        "# Socle agent",
        `RS_ENDPOINT=${server.url}/api/v3`,
        `export RS_UUID="${server.uuid}"`,
        `RS_TOKEN='${server.token}'`,
        "RS_BOOTENV=from-file",
        `RS_CA=${caPath}`,
        "",
      ].join("\n"),
    );
    try {
      const fromFile = { RS_CONFIG: conf, RS_ENDPOINT: undefined, RS_UUID: undefined, RS_TOKEN: undefined, RS_CA: undefined };
      const r = await runAgent(server, t(), fromFile);
      expect(r.code).toBe(0);
      const ask = server.requests.find((q) => q.method === "POST")!;
      expect(JSON.parse(ask.body)).toEqual({ Machine: server.uuid, BootEnv: "discovery" });
      expect(ask.auth).toBe(`Bearer ${server.token}`);
      const missing = await runAgent(server, t(), { RS_UUID: undefined });
      expect(missing.code).toBe(1);
      expect(missing.out).toContain("RS_UUID is not set");
    } finally {
      server.stop();
    }
  });
});

describe.skipIf(!BUSYBOX)("socle-agent with busybox wget only", () => {
  test("refuses to run (busybox wget checks no certificate), with a message; nothing sent", async () => {
    const server = fake();
    try {
      const r = await runAgent(server, tools.busyboxOnly!);
      expect(r.code).toBe(1);
      expect(r.out).toContain("the only HTTP client here is busybox wget");
      expect(r.out).toContain("which does not verify the server's certificate: install curl");
      expect(server.requests.length).toBe(0);
    } finally {
      server.stop();
    }
  });
});

describe.skipIf(!DASH || !CURL)("socle-agent under dash with curl", () => {
  test("runs a job", async () => {
    await checkJob(tools.dashCurl!);
  });

});

describe.skipIf(!BUSYBOX || !GNU_WGET)("socle-agent under busybox sh with GNU wget", () => {
  test("runs a job", async () => {
    await checkJob(tools.busyboxWget!);
  });

  test("a server whose certificate another CA signed is refused, nothing sent", async () => {
    const server = new FakeSocle(otherTls).start();
    try {
      const r = await runAgent(server, tools.busyboxWget!);
      expect(r.code).toBe(4);
      expect(server.requests.length).toBe(0);
    } finally {
      server.stop();
    }
  });
});

describe("the shipped scripts", () => {
  test("the scripts parse under dash and busybox sh, and hold no bashisms", async () => {
    for (const file of ["socle-agent", "socle-agent.init"]) {
      for (const sh of [DASH, BUSYBOX].filter(Boolean) as string[]) {
        const args = sh === BUSYBOX ? [sh, "sh", "-n"] : [sh, "-n"];
        const p = Bun.spawn([...args, join(AGENT_DIR, file)], { stderr: "pipe" });
        expect(`${file} ${sh}: ${await new Response(p.stderr).text()}${await p.exited}`).toBe(`${file} ${sh}: 0`);
      }
      const text = readFileSync(join(AGENT_DIR, file), "utf8").replace(/^\s*#.*$/gm, "");
      for (const bashism of ["[[", "function ", "local ", "$'", "<<<", "${!", "source ", "declare ", "pushd", "&>"]) {
        expect(`${file}: ${text.includes(bashism) ? bashism : "none"}`).toBe(`${file}: none`);
      }
      expect(statSync(join(AGENT_DIR, file)).mode & 0o111).not.toBe(0);
    }
  });
});

describe("socle-agent.service", () => {
  const UNIT = readFileSync(join(AGENT_DIR, "socle-agent.service"), "utf8");
  const SYSTEMD_ANALYZE = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => existsSync(p));

  test("restarts always (but after the agent's own stop or reboot request), reads /etc/socle/agent.env, keeps /var/lib/socle-agent", () => {
    const line = (key: string) => UNIT.split("\n").find((l) => l.startsWith(`${key}=`));
    expect(line("Restart")).toBe("Restart=always");
    expect(line("RestartPreventExitStatus")).toBe("RestartPreventExitStatus=0 2 16");
    expect(line("ExecStart")).toBe("ExecStart=/usr/local/bin/socle-agent");
    expect(line("Environment")).toBe("Environment=RS_CONFIG=/etc/socle/agent.env RS_STATE=/var/lib/socle-agent");
    expect(line("StateDirectory")).toBe("StateDirectory=socle-agent");
  });

  test.skipIf(!SYSTEMD_ANALYZE)("systemd-analyze verify accepts it", async () => {
    const unitDir = mkdtempSync(join(dir, "unit-"));
    const unit = join(unitDir, "socle-agent.service");
    writeFileSync(unit, UNIT.replace("ExecStart=/usr/local/bin/socle-agent", `ExecStart=${AGENT}`));
    const p = Bun.spawn([SYSTEMD_ANALYZE!, "verify", unit], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(`${out}${err}`.trim()).toBe("");
    expect(code).toBe(0);
  });
});

// The paths bounded by sleeps and restarts, run side by side to keep the file quick.
describe.concurrent("timing: streaming, restarts, signals (concurrently)", () => {
  const bbCurl = BUSYBOX && CURL;
  test.skipIf(!bbCurl)("busybox+curl: streams output while a script runs: the first line reaches the server 3 s before the second", () =>
    checkStreaming(tools.busyboxCurl!));
  test.skipIf(!DASH || !CURL)("dash+curl: streams output while a script runs", () => checkStreaming(tools.dashCurl!));
  test.skipIf(!BUSYBOX || !GNU_WGET)("busybox+GNU wget: streams output while a script runs", () => checkStreaming(tools.busyboxWget!));
  test.skipIf(!bbCurl)("busybox+curl: survives a server restart mid-job: retries with backoff; every log byte arrives once, the job finishes", () =>
    checkServerRestart(tools.busyboxCurl!));
  test.skipIf(!BUSYBOX || !GNU_WGET)("busybox+GNU wget: survives a server restart mid-job", () => checkServerRestart(tools.busyboxWget!));
  test.skipIf(!bbCurl)("a restart of the agent (kill -9 mid-job): the same job again (202), acknowledged log kept, the old task stopped", () =>
    checkAgentRestart(tools.busyboxCurl!));
  test.skipIf(!bbCurl)("SIGTERM: the running task's session is stopped and the agent exits 143 at once; idle too", () =>
    checkSigterm(tools.busyboxCurl!));
  test.skipIf(!bbCurl)("init script: starts the agent in the background with a log; status; stop; after exit 16 no restart", () =>
    checkInit(tools.busyboxCurl!));
});
