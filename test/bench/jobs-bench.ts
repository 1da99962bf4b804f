// bench:jobs — the job protocol under load: N simulated agents, each walking a workflow of T tasks
// at the same time, against one Socle server, over HTTPS with machine tokens, as real agents do.
//
//   bun test/bench/jobs-bench.ts [--agents 1000] [--tasks 10] [--time-limit 300] [--think-ms 10000]
//                                [--keep-alive] [--trace-sync] [--profile DIR]
//
// By default it models the real agent (assets/agent/socle-agent): every request on a new
// connection (TCP and TLS handshake: one curl per call), and tasks that run about 10 s.
// --think-ms: each agent waits about this long (0.5x-1.5x, at random) between GET actions and its
//   first log chunk (the task's script running), and starts at a random point within it, so that
//   agents do not move in lockstep (default 10000). 0 is the stress case: all start at once and
//   every agent calls back-to-back, a closed loop whose latency is the queue (N / throughput).
// --keep-alive: each agent keeps one keep-alive connection instead (a client that could).
// --trace-sync: `perf trace -s` of the server's fdatasync/fsync/write/openat/statx/close calls
//   (all threads) during the load phase, summed per call.
// --profile DIR: the server runs with Bun's --cpu-prof (+ its markdown summary), written to DIR
//   when the server stops.
//
// Two network namespaces joined by a veth pair this bench makes:
//
//   server ns: <veth> 198.51.100.1/24  `bun src/main.ts serve` (API only, fresh data directory),
//                                       pinned to CPU 0
//   client ns: <veth> 198.51.100.2/24  the load generator: this file again (SOCLE_JOBS_BENCH_ROLE),
//                                       as processes pinned to CPU 1
//
// The load generator sets up through the API (T tasks with one tiny inline script each, a stage
// with them, a workflow, N machines on it, a machine token each), walks one extra machine alone
// (the latency of an idle server), then starts N agents at once. Each agent: POST /jobs -> PATCH
// created->running (json-patch test op) -> GET actions -> (the task runs: --think-ms) -> PUT log
// twice (1 KiB each, Socle-Log-Offset) -> PATCH finished, until 204 with Socle-Workflow-Complete:
// true. An agent's first request is timed apart (with --keep-alive it opens its connection). Afterwards it checks through the API that
// no job was lost or doubled; this side adds the bytes in job-logs/, the store on disk, the
// server's RSS and CPU time, and TCP counters of both namespaces.
//
// Target (issue 9): p99 of POST /jobs and of PUT log <= 100 ms with 1,000 agents. Latency is
// measured by the load generator (its event-loop lag is printed beside it, so a saturated client
// shows). Stops by itself within --time-limit seconds (default 300) plus at most 60 s of setup and
// teardown; removes its namespaces, data directory and processes (by PID) at the end, on failure
// and on SIGINT/SIGTERM. Exit 0: the run finished and every job is accounted for (whether the
// latency target was met is printed, PASS or FAIL); 1 otherwise.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { NetLab, needsRoot, type Spawned } from "../helpers/netns.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BUN = process.execPath;
const SERVER_ADDR = "198.51.100.1";
const CLIENT_ADDR = "198.51.100.2";
const API_PORT = 8092;
const ADMIN_PASSWORD = "jobs-bench-horse-9";
const TARGET_P99_MS = 100;
const LOG_CHUNK = 1024;
const LOG_CHUNKS = 2;
const PATCH = "application/json-patch+json";

// ---- the load generator (client namespace) -----------------------------------------------------
//
// Bun's fetch keeps at most 64 idle connections per process (oven-sh/bun#42608): with 1,000 agents
// in one process most requests would open a new TLS connection, which no real agent does. So the
// agents run in several processes of at most AGENTS_PER_PROCESS each, all pinned to the client
// CPU, started together; one more process sets up before and checks after.

const AGENTS_PER_PROCESS = 50;

interface Conn {
  endpoint: string;
  ca: string;
  /** A new connection per request (the default; not with --keep-alive). */
  newConn?: boolean;
}

interface SetupInput extends Conn {
  password: string;
  agents: number;
  tasks: number;
}

interface Machine {
  name: string;
  uuid: string;
  token: string;
}

interface SetupOutput {
  setupMs: number;
  adminToken: string;
  tasks: string[];
  machines: Machine[];
  solo: Record<Op, number[]>;
}

interface AgentsInput extends Conn {
  machines: Machine[];
  thinkMs: number;
  /** A file whose appearance starts the agents of every process at once. */
  goFile: string;
  /** Epoch ms after which agents stop where they are. */
  deadline: number;
}

interface AgentsOutput {
  lat: Record<Op, number[]>;
  requests: number;
  errors: number;
  kinds: Record<string, number>;
  jobs: number;
  logBytes: number;
  agentsDone: number;
  seen: { name: string; tasks: string[] }[];
  cpuMs: number;
  lags: number[];
  startAt: number;
  endAt: number;
}

interface VerifyInput extends Conn {
  adminToken: string;
  tasks: string[];
  machines: number;
}

interface Check {
  ok: boolean;
  problems: string[];
  machines: number;
  taskJobs: number;
  stageJobs: number;
}

type Op = "connect" | "ask" | "start" | "actions" | "log" | "finish";
const OPS: readonly Op[] = ["connect", "ask", "start", "actions", "log", "finish"];

interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function summarize(xs: number[]): Summary {
  const s = Float64Array.from(xs).sort();
  const at = (q: number) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!);
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s.length ? s[s.length - 1]! : NaN };
}

class Client {
  constructor(
    readonly conn: Conn,
    public auth: string,
  ) {}
  async req(method: string, path: string, opts: { body?: string; type?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { Authorization: this.auth, ...(opts.headers ?? {}) };
    if (opts.body !== undefined) headers["Content-Type"] = opts.type ?? "application/json";
    return fetch(`${this.conn.endpoint}${path}`, {
      method,
      headers,
      body: opts.body,
      signal: AbortSignal.timeout(30_000),
      tls: { ca: this.conn.ca },
      ...(this.conn.newConn ? { keepalive: false } : {}),
    } as RequestInit);
  }
  async json(method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.req(method, path, body === undefined ? {} : { body: JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 300) throw new Error(`bench:jobs: ${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  }
}

/** Run `fn` over `items`, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

class Recorder {
  readonly lat: Record<Op, number[]> = { connect: [], ask: [], start: [], actions: [], log: [], finish: [] };
  requests = 0;
  errors = 0;
  readonly kinds: Record<string, number> = {};
  jobs = 0;
  logBytes = 0;
  fail(what: string): void {
    this.errors++;
    const kind = what.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<uuid>").replace(/\d+/g, "N").slice(0, 160);
    this.kinds[kind] = (this.kinds[kind] ?? 0) + 1;
  }
  async timed<T>(op: Op, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    this.requests++;
    const r = await fn();
    this.lat[op].push(performance.now() - t0);
    return r;
  }
}

function logChunk(machine: string, task: string, part: number): string {
  const line = `${machine} ${task} part ${part}: the quick brown fox jumps over the lazy dog 0123456789\n`;
  return line.repeat(Math.ceil(LOG_CHUNK / line.length)).slice(0, LOG_CHUNK - 1) + "\n";
}

/**
 * One agent: walks its machine's workflow to the end. An answer it does not expect counts as an
 * error and the agent asks again after a pause (the protocol's resume: 202 with the open job and
 * its State; log chunks resent from offset 0 are not doubled), until the deadline.
 */
async function agent(c: Client, uuid: string, deadline: number, rec: Recorder, tasksSeen: string[], thinkMs = 0): Promise<boolean> {
  let retries = 0;
  let step = "";
  // An agent's first request opens its connection (TCP + TLS handshake): timed apart as "connect".
  let first = true;
  const retry = async (what: string) => {
    rec.fail(what);
    retries++;
    await Bun.sleep(100 * Math.min(retries, 10));
    return Date.now() < deadline;
  };
  if (thinkMs > 0) await Bun.sleep(Math.random() * thinkMs);
  while (Date.now() < deadline) {
    try {
      step = "POST /jobs";
      const ask = await rec.timed(first ? "connect" : "ask", async () => {
        const r = await c.req("POST", "/api/v3/jobs", { body: JSON.stringify({ Machine: uuid, BootEnv: "discovery" }) });
        const body = await r.text();
        return { status: r.status, headers: r.headers, body };
      });
      first = false;
      if (ask.status === 204) {
        if (ask.headers.get("socle-workflow-complete") === "true") return true;
        if (!(await retry(`204 without WorkflowComplete for ${uuid}`))) return false;
        continue;
      }
      if (ask.status !== 201 && ask.status !== 202) {
        if (!(await retry(`POST /jobs ${uuid}: ${ask.status} ${ask.body.slice(0, 200)}`))) return false;
        continue;
      }
      const job = ask.headers.get("socle-job")!;
      const state = ask.headers.get("socle-job-state")!;
      const task = (JSON.parse(ask.body) as { Task: string }).Task;
      const move = (from: string, to: string, exit?: string) => {
        const ops: unknown[] = [{ op: "test", path: "/State", value: from }, { op: "replace", path: "/State", value: to }];
        if (exit !== undefined) ops.push({ op: "replace", path: "/ExitState", value: exit });
        return c.req("PATCH", `/api/v3/jobs/${job}`, { body: JSON.stringify(ops), type: PATCH });
      };
      step = "PATCH ->running";
      const start = await rec.timed("start", async () => {
        const r = await move(state, "running");
        await r.arrayBuffer();
        return r.status;
      });
      if (start !== 200) {
        if (!(await retry(`PATCH ${job} ${state}->running: ${start}`))) return false;
        continue;
      }
      step = "GET actions";
      const actions = await rec.timed("actions", async () => {
        const r = await c.req("GET", `/api/v3/jobs/${job}/actions`);
        return { status: r.status, body: await r.text() };
      });
      if (actions.status !== 200 || !actions.body.includes(task)) {
        if (!(await retry(`GET ${job}/actions: ${actions.status} ${actions.body.slice(0, 200)}`))) return false;
        continue;
      }
      if (thinkMs > 0) await Bun.sleep(thinkMs * (0.5 + Math.random()));
      let offset = 0;
      let logged = true;
      for (let part = 0; part < LOG_CHUNKS; part++) {
        const text = logChunk(uuid, task, part);
        step = `PUT log ${offset}`;
        const put = await rec.timed("log", async () => {
          const r = await c.req("PUT", `/api/v3/jobs/${job}/log`, { body: text, type: "text/plain", headers: { "Socle-Log-Offset": String(offset) } });
          await r.arrayBuffer();
          return { status: r.status, length: Number(r.headers.get("socle-log-length")) };
        });
        // A resumed job may hold the chunk already (its answer was lost): the length is then larger.
        if (put.status !== 200 || put.length < offset + text.length) {
          logged = false;
          if (!(await retry(`PUT ${job}/log at ${offset}: ${put.status} length ${put.length}`))) return false;
          break;
        }
        offset += text.length;
      }
      if (!logged) continue;
      step = "PATCH ->finished";
      const fin = await rec.timed("finish", async () => {
        const r = await move("running", "finished", "complete");
        await r.arrayBuffer();
        return r.status;
      });
      if (fin !== 200) {
        if (!(await retry(`PATCH ${job} running->finished: ${fin}`))) return false;
        continue;
      }
      rec.jobs++;
      rec.logBytes += offset;
      tasksSeen.push(task);
    } catch (err) {
      if (!(await retry(`${step} (${uuid}): ${(err as Error).message}`))) return false;
    }
  }
  return false;
}

const say = (s: string) => console.log(`bench:jobs: ${s}`);

/** Tasks, a stage, a workflow, machines with tokens; then one extra machine walked alone (idle latency). */
async function setupRole(cfg: SetupInput): Promise<SetupOutput> {
  const basic = `Basic ${Buffer.from(`admin:${cfg.password}`).toString("base64")}`;
  const setupStart = performance.now();
  const adminToken = (await new Client(cfg, basic).json("GET", "/api/v3/users/admin/token")).Token as string;
  const admin = new Client(cfg, `Bearer ${adminToken}`);
  const tasks = Array.from({ length: cfg.tasks }, (_, i) => `bench-task-${String(i + 1).padStart(2, "0")}`);
  for (const t of tasks) {
    await admin.json("POST", "/api/v3/tasks", { Name: t, Templates: [{ Name: "run", Contents: `#!/bin/sh\necho "${t} on <%= it.Machine.Name %>"\n` }] });
  }
  await admin.json("POST", "/api/v3/stages", { Name: "bench-stage", Tasks: tasks });
  await admin.json("POST", "/api/v3/workflows", { Name: "bench-wf", Stages: ["bench-stage"] });
  const names = [...Array.from({ length: cfg.agents }, (_, i) => `bench-${String(i).padStart(5, "0")}`), "bench-solo"];
  const machines: Machine[] = new Array(names.length);
  await pool(names, 32, async (name, i) => {
    const uuid = (await admin.json("POST", "/api/v3/machines", { Name: name, BootEnv: "discovery", Workflow: "bench-wf" })).Uuid as string;
    machines[i] = { name, uuid, token: (await admin.json("GET", `/api/v3/machines/${uuid}/token`)).Token as string };
  });
  const setupMs = performance.now() - setupStart;
  say(`setup: ${cfg.tasks} tasks, a stage, a workflow, ${names.length} machines with tokens in ${(setupMs / 1000).toFixed(1)} s`);
  const solo = new Recorder();
  const last = machines.pop()!;
  const soloOk = await agent(new Client(cfg, `Bearer ${last.token}`), last.uuid, Date.now() + 60_000, solo, []);
  if (!soloOk) throw new Error(`bench:jobs: the solo agent did not finish: ${Object.keys(solo.kinds).join("; ")}`);
  return { setupMs, adminToken, tasks, machines, solo: solo.lat };
}

async function agentsRole(cfg: AgentsInput): Promise<AgentsOutput> {
  console.log("READY");
  while (!existsSync(cfg.goFile)) await Bun.sleep(5);
  // Event-loop lag of this process: a saturated load generator inflates every latency it measures.
  const lags: number[] = [];
  let tick = performance.now();
  const lagTimer = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - tick - 50));
    tick = now;
  }, 50);
  const rec = new Recorder();
  const seen = cfg.machines.map((m) => ({ name: m.name, tasks: [] as string[] }));
  const cpu0 = process.cpuUsage();
  const startAt = Date.now();
  const progress = setInterval(() => console.log(`PROGRESS ${rec.jobs} ${rec.requests} ${rec.errors}`), 1_000);
  let agentsDone = 0;
  await Promise.all(
    cfg.machines.map(async (m, i) => {
      if (await agent(new Client(cfg, `Bearer ${m.token}`), m.uuid, cfg.deadline, rec, seen[i]!.tasks, cfg.thinkMs)) agentsDone++;
    }),
  );
  const endAt = Date.now();
  clearInterval(progress);
  clearInterval(lagTimer);
  const cpu = process.cpuUsage(cpu0);
  console.log(`PROGRESS ${rec.jobs} ${rec.requests} ${rec.errors}`);
  return { lat: rec.lat, requests: rec.requests, errors: rec.errors, kinds: rec.kinds, jobs: rec.jobs, logBytes: rec.logBytes, agentsDone, seen, cpuMs: (cpu.user + cpu.system) / 1000, lags, startAt, endAt };
}

/** Through the API: every machine has exactly T finished task jobs, one per task, one stage job, and WorkflowComplete. */
async function verifyRole(cfg: VerifyInput): Promise<Check> {
  const admin = new Client(cfg, `Bearer ${cfg.adminToken}`);
  const problems: string[] = [];
  const jobs = (await admin.json("GET", "/api/v3/jobs")) as { Machine: string; Task: string; State: string }[];
  const machines = (await admin.json("GET", "/api/v3/machines")) as { Uuid: string; Name: string; WorkflowComplete: boolean }[];
  const byMachine = new Map<string, typeof jobs>();
  for (const j of jobs) {
    const list = byMachine.get(j.Machine) ?? [];
    list.push(j);
    byMachine.set(j.Machine, list);
  }
  const want = [...cfg.tasks].sort().join(",");
  let taskJobs = 0;
  let stageJobs = 0;
  const bench = machines.filter((m) => m.Name.startsWith("bench-"));
  for (const m of bench) {
    const list = byMachine.get(m.Uuid) ?? [];
    const taskList = list.filter((j) => !j.Task.includes(":"));
    taskJobs += taskList.length;
    stageJobs += list.length - taskList.length;
    const finished = taskList.filter((j) => j.State === "finished").map((j) => j.Task).sort().join(",");
    if (taskList.length !== cfg.tasks.length || finished !== want) problems.push(`${m.Name}: ${taskList.length} task jobs, finished: ${finished || "none"}`);
    if (list.length - taskList.length !== 1) problems.push(`${m.Name}: ${list.length - taskList.length} stage jobs (expected 1)`);
    if (m.WorkflowComplete !== true) problems.push(`${m.Name}: WorkflowComplete is ${m.WorkflowComplete}`);
  }
  if (bench.length !== cfg.machines) problems.push(`${bench.length} bench machines on the server, ${cfg.machines} created`);
  return { ok: problems.length === 0, problems: problems.slice(0, 20), machines: bench.length, taskJobs, stageJobs };
}

// ---- the driver (default namespace) ------------------------------------------------------------

const args = process.argv.slice(2);
function opt(name: string, def: number, min = 1): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : def;
  if (!Number.isInteger(v) || v < min) throw new Error(`bench:jobs: --${name}: invalid value "${args[i + 1]}" (expected a whole number from ${min})`);
  return v;
}

const TCP_COUNTERS = ["ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets", "OutRsts", "ListenOverflows", "ListenDrops", "TCPAbortOnData", "TCPAbortOnClose", "TCPTimeouts"];

/** Selected Tcp and TcpExt counters from the text of /proc/net/snmp + /proc/net/netstat (header line, value line pairs). */
function tcpCounters(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = lines[i]!.split(/\s+/);
    const vals = lines[i + 1]!.split(/\s+/);
    if (head[0] !== vals[0] || !/^(Tcp|TcpExt):$/.test(head[0]!) || Number.isNaN(Number(vals[1]))) continue;
    head.forEach((k, j) => {
      if (TCP_COUNTERS.includes(k)) out[k] = Number(vals[j]);
    });
    i++;
  }
  return out;
}

/** Bytes under `dir` (files only), recursively. */
function duBytes(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return { bytes, files };
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = duBytes(p);
      bytes += sub.bytes;
      files += sub.files;
    } else if (e.isFile()) {
      bytes += statSync(p).size;
      files++;
    }
  }
  return { bytes, files };
}

function procStatus(pid: number): { rssKb: number; hwmKb: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { rssKb: kb("VmRSS"), hwmKb: kb("VmHWM") };
}

/** CPU time (user + system) of process `pid` and all its threads, in ms. */
function procCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

const MB = (b: number) => (b / (1024 * 1024)).toFixed(1);
const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");

/** The load generator's roles, each a child process in the client namespace. */
type Role = "setup" | "agents" | "verify";

async function driverMain(): Promise<number> {
  const skip = needsRoot();
  if (skip) {
    console.log(`bench:jobs: SKIP: ${skip}; the bench makes two network namespaces and a veth pair`);
    return 0;
  }
  const AGENTS = opt("agents", 1000);
  const TASKS = opt("tasks", 10);
  const LIMIT_S = opt("time-limit", 300);
  const THINK_MS = opt("think-ms", 10_000, 0);
  const NEW_CONN = !args.includes("--keep-alive");
  const traceSync = args.includes("--trace-sync");
  const pi = args.indexOf("--profile");
  const profileDir = pi >= 0 ? resolve(args[pi + 1] ?? "") : undefined;
  const hardStop = Date.now() + (LIMIT_S + 60) * 1000;
  const lab = new NetLab();
  const dataDir = mkdtempSync(join(tmpdir(), "socle-jobs-bench-"));
  const work = mkdtempSync(join(tmpdir(), "socle-jobs-bench-io-"));
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await lab.cleanup().catch((err) => console.error(String(err)));
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const watchdog = setTimeout(() => {
    console.error("bench:jobs: hard time limit reached; stopping");
    onSignal();
  }, hardStop - Date.now());
  try {
    const srvNs = await lab.ns("js");
    const cliNs = await lab.ns("jc");
    const srvIf = lab.name("vjs");
    const cliIf = lab.name("vjc");
    await lab.veth({ ns: srvNs, name: srvIf }, { ns: cliNs, name: cliIf });
    await lab.addr(srvNs, srvIf, `${SERVER_ADDR}/24`);
    await lab.addr(cliNs, cliIf, `${CLIENT_ADDR}/24`);
    const cores = cpus().length;
    const serverCpu = "0";
    const clientCpu = cores > 1 ? "1" : "0";

    const server = lab.spawn(
      srvNs,
      [
        "taskset", "-c", serverCpu,
        BUN, ...(profileDir ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${profileDir}`] : []), join(ROOT, "src/main.ts"), "serve",
        "--data-dir", dataDir,
        "--address", SERVER_ADDR,
        "--api-listen", SERVER_ADDR,
        "--api-port", String(API_PORT),
        "--disable-dhcp", "--disable-binl", "--disable-tftp", "--disable-static",
        "--log-format", "json",
        "--log-level", "info",
      ],
      { SOCLE_ADMIN_PASSWORD: ADMIN_PASSWORD },
    );
    await server.waitFor(/"api":"https:\/\/[^"]*:(\d+)\/api\/v3"/, 30_000);
    const pid = server.pid;
    const procs = Math.ceil(AGENTS / AGENTS_PER_PROCESS);
    const loadText = () => loadavg().map((l) => l.toFixed(2)).join(" ");
    const loadBefore = loadText();
    say(`${AGENTS} agents x ${TASKS} tasks${THINK_MS ? `, ${THINK_MS} ms per task script` : ""}${NEW_CONN ? ", a connection per request" : ""}; server pid ${pid} on CPU ${serverCpu}; ${procs} load processes of <= ${AGENTS_PER_PROCESS} agents on CPU ${clientCpu} (${cores} cores); time limit ${LIMIT_S} s`);
    const conn: Conn = { endpoint: `https://${SERVER_ADDR}:${API_PORT}`, ca: readFileSync(join(dataDir, "pki", "ca.pem"), "utf8") };

    let serial = 0;
    const start = (role: Role, input: unknown): { proc: Spawned; out: string } => {
      const io = join(work, `${role}-${serial++}.json`);
      writeFileSync(io, JSON.stringify(input));
      return { proc: lab.spawn(cliNs, ["taskset", "-c", clientCpu, BUN, import.meta.path], { SOCLE_JOBS_BENCH_ROLE: role, SOCLE_JOBS_BENCH_IO: io }), out: `${io}.out` };
    };
    const finish = async <T>(c: { proc: Spawned; out: string }, what: string): Promise<T> => {
      await c.proc.proc.exited;
      if (!existsSync(c.out)) throw new Error(`bench:jobs: the ${what} process failed (exit ${c.proc.proc.exitCode}):\n${c.proc.output().slice(-3000)}`);
      return JSON.parse(readFileSync(c.out, "utf8")) as T;
    };
    const passThrough = (c: { proc: Spawned }) => {
      for (const l of c.proc.output().split("\n")) if (l.startsWith("bench:jobs:")) console.log(l);
    };

    const setupProc = start("setup", { ...conn, password: ADMIN_PASSWORD, agents: AGENTS, tasks: TASKS } satisfies SetupInput);
    const setup = await Promise.race([finish<SetupOutput>(setupProc, "setup"), Bun.sleep(120_000).then(() => undefined)]);
    passThrough(setupProc);
    if (!setup) throw new Error(`bench:jobs: setup did not finish within 120 s:\n${setupProc.proc.output().slice(-3000)}`);

    const goFile = join(work, "go");
    const deadline = Math.min(Date.now() + LIMIT_S * 1000, hardStop - 30_000);
    const agents = Array.from({ length: procs }, (_, i) =>
      start("agents", { ...conn, machines: setup.machines.slice(i * AGENTS_PER_PROCESS, (i + 1) * AGENTS_PER_PROCESS), thinkMs: THINK_MS, newConn: NEW_CONN, goFile, deadline } satisfies AgentsInput),
    );
    while (agents.some((a) => !a.proc.output().includes("READY")) && Date.now() < deadline) {
      if (agents.some((a) => a.proc.proc.exitCode !== null)) break;
      await Bun.sleep(20);
    }
    const snmp = async (ns: string) => tcpCounters((await lab.exec(ns, ["cat", "/proc/net/snmp", "/proc/net/netstat"])).stdout);
    const cliTcp0 = await snmp(cliNs);
    const srvTcp0 = await snmp(srvNs);
    const tracer = traceSync ? lab.spawn(srvNs, ["perf", "trace", "-s", "-p", String(pid), "-e", "fdatasync,fsync,write,pwrite64,openat,fstat,statx,close"]) : undefined;
    const serverCpu0 = procCpuMs(pid);
    writeFileSync(goFile, "go");
    const goAt = Date.now();
    let peakRssKb = 0;
    let lastPrint = Date.now();
    const running = () => agents.some((a) => a.proc.proc.exitCode === null && a.proc.proc.signalCode === null);
    while (running() && Date.now() < hardStop) {
      peakRssKb = Math.max(peakRssKb, procStatus(pid).rssKb);
      if (Date.now() - lastPrint >= 5_000) {
        lastPrint = Date.now();
        const sum = [0, 0, 0];
        for (const a of agents) {
          const m = [...a.proc.output().matchAll(/PROGRESS (\d+) (\d+) (\d+)/g)].pop();
          if (m) for (let k = 0; k < 3; k++) sum[k]! += Number(m[k + 1]);
        }
        say(`${sum[0]} jobs finished, ${sum[1]} requests, ${sum[2]} errors, ${((Date.now() - goAt) / 1000).toFixed(0)} s`);
      }
      await Bun.sleep(200);
    }
    const serverCpuMs = procCpuMs(pid) - serverCpu0;
    if (tracer) {
      // perf prints its summary on SIGINT only.
      tracer.proc.kill("SIGINT");
      await Promise.race([tracer.proc.exited, Bun.sleep(10_000)]);
      await tracer.kill(1_000);
    }
    const cliTcp1 = await snmp(cliNs);
    const srvTcp1 = await snmp(srvNs);
    const delta = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)]));
    const t = delta(cliTcp0, cliTcp1);
    const st = delta(srvTcp0, srvTcp1);
    if (running()) {
      for (const a of agents) await a.proc.kill(2_000);
      throw new Error("bench:jobs: the load processes did not finish within the time limit");
    }
    const outs: AgentsOutput[] = [];
    for (const [i, a] of agents.entries()) outs.push(await finish<AgentsOutput>(a, `agents #${i}`));
    const { rssKb, hwmKb } = procStatus(pid);

    const verifyProc = start("verify", { ...conn, adminToken: setup.adminToken, tasks: setup.tasks, machines: AGENTS + 1 } satisfies VerifyInput);
    const check = await finish<Check>(verifyProc, "verify");

    const storeDir = duBytes(join(dataDir, "store"));
    const logs = duBytes(join(dataDir, "job-logs"));
    const all = duBytes(dataDir);
    const storeFiles = readdirSync(join(dataDir, "store")).sort();
    await server.kill(20_000);
    const storeClosed = duBytes(join(dataDir, "store"));

    // Merge the load processes.
    const lat = Object.fromEntries(OPS.map((op) => [op, outs.flatMap((o) => o.lat[op])])) as Record<Op, number[]>;
    const load = Object.fromEntries(OPS.map((op) => [op, summarize(lat[op])])) as Record<Op, Summary>;
    const solo = Object.fromEntries(OPS.map((op) => [op, summarize(setup.solo[op])])) as Record<Op, Summary>;
    const sum = (f: (o: AgentsOutput) => number) => outs.reduce((n, o) => n + f(o), 0);
    const jobs = sum((o) => o.jobs);
    const requests = sum((o) => o.requests);
    const errors = sum((o) => o.errors);
    const logBytes = sum((o) => o.logBytes);
    const agentsDone = sum((o) => o.agentsDone);
    const clientCpuMs = sum((o) => o.cpuMs);
    const loadMs = Math.max(...outs.map((o) => o.endAt)) - Math.min(...outs.map((o) => o.startAt));
    const lags = summarize(outs.flatMap((o) => o.lags));
    const kinds: Record<string, number> = {};
    for (const o of outs) for (const [k, n] of Object.entries(o.kinds)) kinds[k] = (kinds[k] ?? 0) + n;
    for (const o of outs) {
      for (const a of o.seen) {
        if (a.tasks.length !== TASKS || new Set(a.tasks).size !== TASKS) check.problems.push(`agent ${a.name} ran ${a.tasks.length} jobs (${new Set(a.tasks).size} distinct tasks)`);
      }
    }

    const secs = loadMs / 1000;
    const out = (s: string) => console.log(s);
    out("");
    out(`bench:jobs: ${AGENTS} agents x ${TASKS} tasks, load phase ${secs.toFixed(1)} s (setup ${(setup.setupMs / 1000).toFixed(1)} s)`);
    out(`  jobs finished         ${jobs} of ${AGENTS * TASKS}; agents done ${agentsDone} of ${AGENTS}; ${requests} requests, ${errors} errors`);
    out(`  throughput            ${(jobs / secs).toFixed(0)} jobs/s, ${(requests / secs).toFixed(0)} requests/s, log ${MB(logBytes / secs)} MB/s (${MB(logBytes)} MB acknowledged)`);
    out(`  latency (ms)          ${"p50".padStart(8)} ${"p90".padStart(8)} ${"p99".padStart(8)} ${"max".padStart(8)} | idle p50 (one agent alone)`);
    for (const op of OPS) {
      const l = load[op];
      const label = { connect: "first POST (+TLS conn)", ask: "POST /jobs (scheduler)", start: "PATCH ->running", actions: "GET actions", log: "PUT log (append)", finish: "PATCH ->finished" }[op];
      out(`  ${label.padEnd(22)}${ms(l.p50).padStart(8)} ${ms(l.p90).padStart(8)} ${ms(l.p99).padStart(8)} ${ms(l.max).padStart(8)} | ${ms(solo[op].p50)}`);
    }
    out(`  client loop lag (ms)  p50 ${ms(lags.p50)} p99 ${ms(lags.p99)} max ${ms(lags.max)} (load generator saturation)`);
    out(`  CPU during load       server ${(serverCpuMs / 1000).toFixed(1)} s (${((100 * serverCpuMs) / loadMs).toFixed(0)} % of one core), load generator ${(clientCpuMs / 1000).toFixed(1)} s (${((100 * clientCpuMs) / loadMs).toFixed(0)} %)`);
    out(`  machine load average  ${loadBefore} before, ${loadText()} after (other work on these CPUs skews every figure)`);
    out(`  TCP during load       ${t.ActiveOpens} connections opened for ${requests} requests; client: ${t.EstabResets} resets of established, ${t.AttemptFails} failed attempts, ${t.TCPTimeouts} timeouts; server: ${st.ListenOverflows} listen overflows, ${st.OutRsts} RSTs sent`);
    out(`  server RSS at end     ${(rssKb / 1024).toFixed(0)} MB (peak sampled ${(peakRssKb / 1024).toFixed(0)} MB, VmHWM ${(hwmKb / 1024).toFixed(0)} MB)`);
    out(`  disk after the run    data dir ${MB(all.bytes)} MB; store ${MB(storeDir.bytes)} MB (${storeFiles.join(", ")}); job-logs ${MB(logs.bytes)} MB in ${logs.files} files`);
    out(`  store after close     ${MB(storeClosed.bytes)} MB (compacted at stop)`);
    const expectedLogBytes = (AGENTS + 1) * TASKS * LOG_CHUNK * LOG_CHUNKS;
    const logOk = logs.bytes === expectedLogBytes && logs.files === (AGENTS + 1) * TASKS;
    if (!logOk) check.problems.push(`job-logs holds ${logs.bytes} bytes in ${logs.files} files; expected ${expectedLogBytes} in ${(AGENTS + 1) * TASKS}`);
    const checkOk = check.ok && check.problems.length === 0 && logOk && agentsDone === AGENTS;
    out(
      `  accounting            ${checkOk ? "OK" : "FAILED"}: ${check.machines} machines, ${check.taskJobs} task jobs + ${check.stageJobs} stage jobs on the server; ` +
        `checked: ${TASKS} finished task jobs per machine, no task twice, WorkflowComplete, each agent ran each task once, log bytes on disk`,
    );
    for (const p of check.problems.slice(0, 10)) out(`    ${p}`);
    for (const [k, n] of Object.entries(kinds).sort((a, b) => b[1] - a[1]).slice(0, 10)) out(`  errors: ${String(n).padStart(6)} x ${k}`);
    if (tracer) {
      const calls = new Map<string, { n: number; ms: number }>();
      for (const m of tracer.output().matchAll(/^\s+(\w+)\s+(\d+)\s+\d+\s+([\d.]+)\s/gm)) {
        const c = calls.get(m[1]!) ?? { n: 0, ms: 0 };
        c.n += Number(m[2]);
        c.ms += Number(m[3]);
        calls.set(m[1]!, c);
      }
      const list = [...calls].map(([k, c]) => `${k} ${c.n} calls ${(c.ms / 1000).toFixed(1)} s (avg ${(c.ms / Math.max(1, c.n)).toFixed(2)} ms)`);
      out(`  server syscalls, all threads, during load (perf trace -s): ${list.join("; ") || "no output"}`);
    }
    const serverErrors = server.output().split("\n").filter((l) => /"level":"(warn|error)"/.test(l));
    for (const l of serverErrors.slice(0, 5)) out(`  server: ${l.slice(0, 300)}`);
    const pass = checkOk && Math.max(load.ask.p99, load.log.p99) <= TARGET_P99_MS;
    out(
      `target: p99 <= ${TARGET_P99_MS} ms with 1,000 agents (POST /jobs p99 ${ms(load.ask.p99)} ms, PUT log p99 ${ms(load.log.p99)} ms, ${AGENTS} agents${THINK_MS ? `, ${THINK_MS} ms think time` : ""}${NEW_CONN ? ", a connection per request" : ""}): ` +
        `${pass ? "PASS" : "FAIL"}${AGENTS !== 1000 ? " (not the 1,000-agent run)" : ""}`,
    );
    out(
      `JSON ${JSON.stringify({ agents: AGENTS, tasks: TASKS, thinkMs: THINK_MS, newConn: NEW_CONN, loadMs, setupMs: setup.setupMs, jobs, requests, errors, logBytes, agentsDone, load, solo, lags, serverCpuMs, clientCpuMs, tcpClient: t, tcpServer: st, rssKb, hwmKb, peakRssKb, disk: { all: all.bytes, store: storeDir.bytes, storeClosed: storeClosed.bytes, jobLogs: logs.bytes }, checkOk, pass })}`,
    );
    return checkOk ? 0 : 1;
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
}

const role = process.env.SOCLE_JOBS_BENCH_ROLE as Role | undefined;
if (role) {
  const io = process.env.SOCLE_JOBS_BENCH_IO!;
  const input = JSON.parse(readFileSync(io, "utf8"));
  const result = role === "setup" ? await setupRole(input) : role === "agents" ? await agentsRole(input) : await verifyRole(input);
  writeFileSync(`${io}.out`, JSON.stringify(result));
  process.exit(0);
} else {
  process.exit(await driverMain());
}
