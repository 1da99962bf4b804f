// Job extras: `jobs create <machine>` asks the scheduler for the machine's next job (POST /jobs, as
// the agent does), `jobs actions <id>` shows what the job runs, and `jobs log <id> [--follow]`
// prints its log; with --follow it keeps printing what is added until the job ends.
//
// Following: the log grows without the job object changing, so the log is read again at most
// once a second, and only the bytes beyond those printed are written (a `Range: bytes=<n>-`
// request; a server that ignores Range sends it all and the tail is cut here). The job itself is
// long-polled (If-None-Match + Prefer: wait), so its end is seen at once; the log is read once
// more after that, since the agent sends its last bytes before it reports the end.

import { keyPath, type ApiClient } from "../api-client.ts";
import { CliError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { awaitChange, fetchObject, MAX_POLL_WAIT_MS, type Watched } from "../long-poll.ts";
import { findType } from "../types.ts";
import { boolFlag, parseVerbArgs } from "../verb-args.ts";
import type { VerbSpec } from "../verb-spec.ts";

/** States after which a job's log grows no more (incomplete: the scheduler hands it out again). */
const LOG_ENDS: ReadonlySet<string> = new Set(["finished", "failed", "incomplete"]);
/** Least time between two reads of a followed log. */
const LOG_INTERVAL_MS = 1000;
/** How long one long-poll of the followed job waits. */
const JOB_WAIT_MS = 30_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const CREATE: VerbSpec = {
  path: ["jobs", "create"],
  synopsis: "<machine>",
  flags: [],
  summary: "ask the scheduler for the machine's next job (Uuid or Name:n1)",
  run: jobCreate,
};

const LOG: VerbSpec = {
  path: ["jobs", "log"],
  synopsis: "<id>",
  flags: [{ name: "follow", short: "f", kind: "bool" }],
  summary: "print the job's log; -f: until the job ends",
  notes: ["With --follow: exit 0 when the job finished or is incomplete (it runs again), 1 when it failed."],
  run: jobLog,
};

const ACTIONS: VerbSpec = {
  path: ["jobs", "actions"],
  synopsis: "<id>",
  flags: [],
  summary: "the files and scripts the job runs, rendered for its machine",
  run: jobActions,
};

export const JOB_VERBS: readonly VerbSpec[] = [CREATE, LOG, ACTIONS];

async function jobCreate(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, CREATE, { min: 1, max: 1 });
  const ref = pos[0] as string;
  const api = ctx.api();
  // The scheduler takes the machine's Uuid; a Name:n1 reference is looked up first.
  const machine = UUID.test(ref) ? ref : String(((await api.request("GET", keyPath("machines", ref))) as { Uuid?: unknown }).Uuid);
  const r = await api.exchange("POST", "jobs", { body: { Machine: machine } });
  if (r.status === 204) {
    const h = (name: string) => r.headers.get(name) ?? "?";
    ctx.io.err(
      `no job for machine ${ref}: nothing to run now (BootEnv ${h("socle-machine-bootenv")}, WorkflowComplete ${h("socle-workflow-complete")}, Runnable ${h("socle-machine-runnable")})`,
    );
    return 0;
  }
  if (r.status === 202) {
    const job = r.body as { Uuid?: unknown; State?: unknown };
    ctx.io.err(`machine ${ref} already has job ${String(job?.Uuid)} (State ${String(job?.State)}): the same job again`);
  }
  ctx.print(r.body, findType("jobs"));
  return 0;
}

async function jobActions(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, ACTIONS, { min: 1, max: 1 });
  ctx.print(await ctx.api().request("GET", keyPath("jobs", pos[0] as string, "actions")));
  return 0;
}

async function jobLog(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos, flags } = parseVerbArgs(args, LOG, { min: 1, max: 1 });
  const id = pos[0] as string;
  const api = ctx.api();
  const write = bytesWriter(ctx);
  if (!boolFlag(flags.get("follow"))) {
    await printLog(api, keyPath("jobs", id, "log"), 0, write);
    return 0;
  }
  let job = await fetchObject(api, keyPath("jobs", id));
  const jobPath = keyPath("jobs", typeof job.obj.Uuid === "string" ? job.obj.Uuid : id);
  const logPath = `${jobPath}/log`;
  const stop = new AbortController();
  const ended = new Doorbell();
  let watchError: unknown;
  const watcher = (async () => {
    while (!LOG_ENDS.has(stateOf(job))) {
      job = (await awaitChange(api, jobPath, job, Math.min(JOB_WAIT_MS, MAX_POLL_WAIT_MS), stop.signal)).now;
    }
  })().then(
    () => ended.ring(),
    (e) => {
      if (!stop.signal.aborted) watchError = e;
      ended.ring();
    },
  );
  let printed = 0;
  try {
    for (;;) {
      // Read before the log: a log read after the end was seen holds every byte of it.
      const over = LOG_ENDS.has(stateOf(job));
      printed += await printLog(api, logPath, printed, write);
      if (watchError !== undefined) throw watchError;
      if (over) break;
      await ended.wait(LOG_INTERVAL_MS);
    }
  } finally {
    stop.abort();
    await watcher;
  }
  return finalStatus(ctx, id, job);
}

function stateOf(job: Watched): string {
  return typeof job.obj.State === "string" ? job.obj.State : "";
}

function finalStatus(ctx: VerbContext, id: string, job: Watched): number {
  const state = stateOf(job);
  if (state === "failed") throw new CliError(`job ${id} failed (ExitState ${String(job.obj.ExitState ?? "")})`);
  if (state === "incomplete") ctx.io.err(`job ${id} is incomplete: the scheduler hands it out again`);
  return 0;
}

/**
 * Writes the log beyond its first `from` bytes; returns how many bytes it wrote. 416 (nothing
 * beyond `from`) writes nothing.
 */
async function printLog(api: ApiClient, path: string, from: number, write: (b: Uint8Array) => Promise<void>): Promise<number> {
  const r = await api.exchange("GET", path, { raw: true, accept: [416], headers: from > 0 ? { Range: `bytes=${from}-` } : {} });
  if (r.status === 416) return 0;
  let tail = r.bytes;
  if (r.status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(r.headers.get("content-range") ?? "")?.[1] ?? NaN);
    if (start !== from) throw new CliError(`GET ${path}: asked for bytes from ${from}, got a range from ${r.headers.get("content-range") ?? "(none)"}`);
  } else {
    tail = tail.subarray(Math.min(from, tail.length));
  }
  if (tail.length > 0) await write(tail);
  return tail.length;
}

/** Raw bytes to standard output (text through out() where the caller gives no byte writer). */
function bytesWriter(ctx: VerbContext): (b: Uint8Array) => Promise<void> {
  if (ctx.io.writeBytes) return ctx.io.writeBytes;
  const decoder = new TextDecoder();
  return async (b) => ctx.io.out(decoder.decode(b, { stream: true }));
}

/** A wake-up that may ring before anyone waits: wait() returns at once then. */
class Doorbell {
  private rung = false;
  private waiter: (() => void) | undefined;

  ring(): void {
    this.rung = true;
    this.waiter?.();
  }

  wait(ms: number): Promise<void> {
    if (this.rung) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.waiter = done;
    });
  }
}
