// A fake Socle job server for the agent's tests: the agent protocol (ask, json-patch State,
// actions as a list and by index, log by offset, machine long poll) over TLS, in memory, for one
// machine. It records every request it handles, and can stop (connection refused) and come back
// on the same port, keeping its jobs.

export interface Action {
  Name: string;
  /** Set: a file written at this path. Empty: a script. */
  Path?: string;
  Content: string;
}

export interface FakeJob {
  id: string;
  state: string;
  exitState: string;
  token: string;
  task: string;
  actions: Action[];
  log: Uint8Array;
  /** Every PATCH body, in order. */
  patches: unknown[];
}

export interface SeenRequest {
  time: number;
  method: string;
  path: string;
  query: string;
  auth: string;
  headers: Record<string, string>;
  status: number;
  body: string;
}

/** One change of a job's log: when, and the log after it. */
export interface LogEvent {
  time: number;
  offset: number;
  status: number;
  text: string;
}

const RUNNABLE_STATES = ["created", "running", "incomplete"];
const SCRIPT_TOKEN_PREFIX = "job-token-";
const decoder = new TextDecoder();

export class FakeSocle {
  readonly uuid = "0f0e0d0c-0b0a-4908-8706-050403020100";
  readonly token = "machine-token";
  machine = { bootEnv: "discovery", runnable: true, version: 1 };
  /** Tasks not handed out yet, first to last. */
  queue: Array<{ task: string; actions: Action[] }> = [];
  /** Socle-Workflow-Complete when the queue is empty. */
  workflowComplete = true;
  jobs = new Map<string, FakeJob>();
  current: FakeJob | undefined;
  requests: SeenRequest[] = [];
  logEvents: LogEvent[] = [];
  /** Runs before a PATCH is checked (e.g. someone else changes the job first). */
  beforePatch: ((job: FakeJob) => void) | undefined;
  /** Runs after a PATCH is applied; a Response returned replaces the answer (e.g. a lost answer). */
  afterPatch: ((job: FakeJob) => Response | undefined) | undefined;
  /** When set, every log PUT is answered with this status (the job deleted, its token revoked...). */
  logRefusal: number | undefined;
  /** Longest long poll it grants, in seconds. */
  waitCap = 10;
  port = 0;
  private server: ReturnType<typeof Bun.serve> | undefined;
  private waiters: Array<() => void> = [];
  private jobSeq = 0;

  constructor(private readonly tls: { cert: string; key: string }) {}

  start(): this {
    this.server = Bun.serve({ hostname: "127.0.0.1", port: this.port, tls: this.tls, fetch: (req) => this.handle(req) });
    this.port = this.server.port as number;
    return this;
  }

  /** Stops listening and drops open connections: the agent sees connection refused. */
  stop(): void {
    this.server?.stop(true);
    this.server = undefined;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** The machine changed: long polls answer now. */
  touch(): void {
    this.machine.version++;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  addTask(task: string, actions: Action[]): void {
    this.queue.push({ task, actions });
  }

  /** A job as the server would hold it before the agent (re)starts, e.g. one left running. */
  seedJob(task: string, actions: Action[], state: string, log = ""): FakeJob {
    const job = this.newJob(task, actions);
    job.state = state;
    job.log = new TextEncoder().encode(log);
    this.current = job;
    return job;
  }

  logText(job: FakeJob | undefined = this.current): string {
    return job ? decoder.decode(job.log) : "";
  }

  /** The statuses the asks were answered with, in order. */
  askStatuses(): number[] {
    return this.requests.filter((r) => r.method === "POST" && r.path === "/api/v3/jobs").map((r) => r.status);
  }

  /** Resolves when `pred` holds (checked every 50 ms), rejects after `ms`. */
  async until(pred: () => boolean, ms: number, what: string): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await Bun.sleep(50);
    }
  }

  private newJob(task: string, actions: Action[]): FakeJob {
    this.jobSeq++;
    const job: FakeJob = {
      id: crypto.randomUUID(),
      state: "created",
      exitState: "",
      token: `${SCRIPT_TOKEN_PREFIX}${this.jobSeq}`,
      task,
      actions,
      log: new Uint8Array(0),
      patches: [],
    };
    this.jobs.set(job.id, job);
    return job;
  }

  private jobJson(job: FakeJob): string {
    return JSON.stringify({ Uuid: job.id, Machine: this.uuid, Task: job.task, State: job.state, ExitState: job.exitState });
  }

  private machineHeaders(): Record<string, string> {
    return {
      "Socle-Machine-BootEnv": this.machine.bootEnv,
      "Socle-Workflow-Complete": String(this.queue.length === 0 && this.workflowComplete),
      "Socle-Machine-Runnable": String(this.machine.runnable),
    };
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const raw = req.method === "GET" ? new Uint8Array(0) : new Uint8Array(await req.arrayBuffer());
    const body = decoder.decode(raw);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k] = v));
    const seen: SeenRequest = {
      time: Date.now(),
      method: req.method,
      path: url.pathname,
      query: url.search,
      auth: req.headers.get("authorization") ?? "",
      headers,
      status: 0,
      body,
    };
    this.requests.push(seen);
    const res = await this.route(req, url, body, raw);
    seen.status = res.status;
    return res;
  }

  private async route(req: Request, url: URL, body: string, raw: Uint8Array): Promise<Response> {
    if (req.headers.get("authorization") !== `Bearer ${this.token}`) return json(401, { Messages: ["bad token"] });
    const p = url.pathname;
    const m = /^\/api\/v3\/jobs\/([^/]+)(\/log|\/actions(?:\/(\d+))?)?$/.exec(p);
    if (req.method === "POST" && p === "/api/v3/jobs") return this.ask(body);
    if (req.method === "GET" && p === `/api/v3/machines/${this.uuid}`) return this.getMachine(req);
    if (!m) return json(404, { Messages: [`no route ${req.method} ${p}`] });
    const job = this.jobs.get(m[1]!);
    if (!job) return json(404, { Messages: [`no job ${m[1]}`] });
    if (m[2] === "/log" && req.method === "PUT") return this.putLog(job, req, raw);
    if (m[2] === "/log" && req.method === "GET") {
      return new Response(job.log, { headers: { "Content-Type": "text/plain", "Socle-Log-Length": String(job.log.length) } });
    }
    if (m[2] === "/actions" && req.method === "GET") {
      if (url.searchParams.get("format") === "list") {
        const text = job.actions.map((a, i) => `${i}\t${a.Name}\t${a.Path ?? ""}\n`).join("");
        return new Response(text, { headers: { "Content-Type": "text/plain" } });
      }
      return json(200, job.actions);
    }
    if (m[2]?.startsWith("/actions/") && req.method === "GET") {
      const a = job.actions[Number(m[3])];
      if (!a) return json(404, { Messages: [`no action ${m[3]}`] });
      return new Response(a.Content, { headers: { "Content-Type": "application/octet-stream" } });
    }
    if (m[2] === undefined && req.method === "PATCH") return this.patchJob(job, req, body);
    if (m[2] === undefined && req.method === "GET") return new Response(this.jobJson(job), { headers: { "Content-Type": "application/json" } });
    return json(405, { Messages: [`${req.method} ${p}`] });
  }

  private ask(body: string): Response {
    let env = "";
    try {
      const b = JSON.parse(body);
      if (b.Machine !== this.uuid) return json(422, { Messages: [`no machine ${b.Machine}`] });
      env = b.BootEnv;
    } catch {
      return json(400, { Messages: ["bad body"] });
    }
    if (!this.machine.runnable) return new Response(null, { status: 409, headers: this.machineHeaders() });
    if (env !== this.machine.bootEnv) return new Response(null, { status: 204, headers: this.machineHeaders() });
    let status = 202;
    if (!this.current || !RUNNABLE_STATES.includes(this.current.state)) {
      const next = this.queue.shift();
      if (!next) return new Response(null, { status: 204, headers: this.machineHeaders() });
      this.current = this.newJob(next.task, next.actions);
      status = 201;
    }
    const job = this.current;
    return new Response(this.jobJson(job), {
      status,
      headers: {
        "Content-Type": "application/json",
        "Socle-Job": job.id,
        "Socle-Job-State": job.state,
        "Socle-Job-Token": job.token,
      },
    });
  }

  private patchJob(job: FakeJob, req: Request, body: string): Response {
    if (req.headers.get("content-type") !== "application/json-patch+json") return json(415, { Messages: ["json-patch only"] });
    const ops = JSON.parse(body) as Array<{ op: string; path: string; value: string }>;
    job.patches.push(ops);
    this.beforePatch?.(job);
    const field = (path: string) => (path === "/State" ? "state" : path === "/ExitState" ? "exitState" : undefined);
    for (const o of ops) {
      const f = field(o.path);
      if (!f) return json(422, { Messages: [`cannot patch ${o.path}`] });
      if (o.op === "test" && job[f] !== o.value) return json(409, { Messages: [`test ${o.path} ${o.value}: is ${job[f]}`] });
    }
    for (const o of ops) if (o.op === "replace") job[field(o.path)!] = o.value;
    if (job.state === "failed") {
      this.machine.runnable = false;
      this.touch();
    }
    return this.afterPatch?.(job) ?? new Response(this.jobJson(job), { headers: { "Content-Type": "application/json" } });
  }

  private putLog(job: FakeJob, req: Request, bytes: Uint8Array): Response {
    const offset = Number(req.headers.get("socle-log-offset"));
    const held = job.log.length;
    const event = (status: number) => this.logEvents.push({ time: Date.now(), offset, status, text: this.logText(job) });
    if (this.logRefusal !== undefined) {
      event(this.logRefusal);
      return json(this.logRefusal, { Messages: ["refused by the test"] });
    }
    if (!Number.isInteger(offset) || offset < 0) return json(400, { Messages: ["bad Socle-Log-Offset"] });
    if (offset > held) {
      event(409);
      return new Response(null, { status: 409, headers: { "Socle-Log-Length": String(held) } });
    }
    const fresh = bytes.subarray(Math.min(bytes.length, held - offset));
    if (fresh.length > 0) {
      const next = new Uint8Array(held + fresh.length);
      next.set(job.log);
      next.set(fresh, held);
      job.log = next;
    }
    event(200);
    return new Response(null, { status: 200, headers: { "Socle-Log-Length": String(job.log.length) } });
  }

  private async getMachine(req: Request): Promise<Response> {
    const etag = () => `"m${this.machine.version}"`;
    const answer = () =>
      new Response(JSON.stringify({ Uuid: this.uuid, BootEnv: this.machine.bootEnv, Runnable: this.machine.runnable }), {
        headers: { "Content-Type": "application/json", ETag: etag() },
      });
    const match = req.headers.get("if-none-match");
    if (match !== etag()) return answer();
    const wait = /wait=(\d+)s?/.exec(req.headers.get("prefer") ?? "");
    const secs = Math.min(Number(wait?.[1] ?? 0), this.waitCap);
    const changed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), secs * 1000);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    return changed ? answer() : new Response(null, { status: 304, headers: { ETag: etag() } });
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}
