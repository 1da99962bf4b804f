// Rendering under a deadline, off the server's thread.
//
// Compiled templates are JavaScript (Eta builds them with `new Function`), run with the server's
// privileges. A template that loops (`<% while (true) {} %>`), recurses, builds a huge string or
// runs a regular expression that backtracks for ever would, on the server's thread, stop DHCP,
// TFTP, HTTP and the API with it. No check inserted into the compiled code can stop all of these:
// `"x".repeat(2 ** 28)` or a catastrophic regular expression is one call into the engine, and
// `"".constructor.constructor("while (1) {}")()` builds code the check never saw. A worker thread
// can be stopped whatever it is doing, so every render runs in one, and one that runs past the
// deadline is terminated and replaced; its render fails with a RenderError of kind "deadline"
// naming the template (and the include it was stuck in), and the server's thread never waited.
//
// The pool keeps the registry's sources (compiling each here too, so a syntax error is reported
// when the template is saved) and sends them to every worker, including a replacement. A render
// carries its input as data (render-input.ts); parameters (when not sent along) and tokens are
// asked of the server's thread during the render (worker-protocol.ts).
//
// Renders wait in one FIFO queue for a free worker, which takes what is queued (up to BATCH items)
// in one message; the deadline applies to each item from when the worker starts it (it marks the
// item and its start in shared memory), so waiting in the queue or behind other items never counts.
// When an item overruns, the worker is replaced; the item fails, and so do the other items of its
// run that render the same template, untried (a path template that loops for one machine loops for
// all of them: the path index costs one deadline per such template, not one per machine); the
// other items go back to the front of the queue.

import { compileTemplate } from "./compile.ts";
import { RenderError } from "./render-error.ts";
import { targetName, type RenderHost, type RenderInput, type RenderTarget } from "./render-input.ts";
import { renderWorkerUrl } from "./worker-url.ts";
import { TEMPLATE_NAME_MAX, type AskWhat, type Answer, type FromWorker, type ToWorker, type WorkerJob } from "./worker-protocol.ts";

export const DEFAULT_RENDER_DEADLINE_MS = 2000;
export const DEFAULT_RENDER_WORKERS = 2;

export interface RenderPoolOptions {
  /** The longest one render may run, in milliseconds. Default 2000. */
  deadlineMs?: number;
  /** Worker threads, i.e. renders running at once. Default 2 (one may be stuck until its deadline). */
  workers?: number;
  /** Deepest include nesting (default 16). */
  maxDepth?: number;
  /** Compiled ad hoc sources each worker keeps. Default 2000. */
  adHocCacheSize?: number;
  /** The worker's entry point; default render-worker.ts beside this file (or in the binary). */
  workerUrl?: URL;
  /** Told when a worker is stopped at a deadline or lost, for one log line. */
  onStop?: (message: string, fields: Record<string, unknown>) => void;
}

export interface Rendered {
  output: string;
  /** The parameters it.param() returned, by name. */
  used: string[];
}

export interface RenderJob {
  input: RenderInput;
  host: RenderHost;
  targets: RenderTarget[];
}

type Outcome = Rendered | RenderError;

interface Run {
  jobs: RenderJob[];
  results: Array<Array<Outcome | undefined>>;
  /** Items not rendered yet, as [job, target] in order. */
  pending: Array<[number, number]>;
  resolve(results: Outcome[][]): void;
}

/** One target of one run, as sent to a worker. */
interface Item {
  run: Run;
  job: number;
  target: number;
}

interface Slot {
  worker: Worker;
  port: MessagePort;
  answered: Int32Array;
  /** [0] index of the item running, [1] length of the running template's name (worker-protocol.ts). */
  progress: Int32Array;
  /** When the running item started (performance.timeOrigin + performance.now(), ms). */
  itemStart: Float64Array;
  template: Uint16Array;
  ready: boolean;
  alive: boolean;
  /** What the worker is rendering: the items in the order sent, its jobs, the deadline timer. */
  current?: { id: number; items: Item[]; sent: Array<{ run: Run; job: number }>; timer: ReturnType<typeof setTimeout> };
}

/** Items one worker message carries at most when several renders are queued. */
const BATCH = 64;
/** Workers that die before they are ready, in a row, before renders fail instead of waiting. */
const MAX_START_FAILURES = 3;
/** How long renders fail fast after that before a worker is tried again. */
const START_RETRY_MS = 10_000;

const now = () => performance.timeOrigin + performance.now();

export class RenderPool {
  readonly deadlineMs: number;
  private readonly size: number;
  private readonly maxDepth: number;
  private readonly adHocCacheSize: number;
  private readonly url: URL;
  private readonly onStop: NonNullable<RenderPoolOptions["onStop"]>;
  private readonly sources = new Map<string, string>();
  private readonly slots: Slot[] = [];
  private readonly queue: Run[] = [];
  private nextDispatch = 1;
  private startFailures = 0;
  private lastStartFailure = 0;
  private closed = false;

  constructor(opts: RenderPoolOptions = {}) {
    this.deadlineMs = opts.deadlineMs ?? DEFAULT_RENDER_DEADLINE_MS;
    this.size = Math.max(1, opts.workers ?? DEFAULT_RENDER_WORKERS);
    this.maxDepth = opts.maxDepth ?? 16;
    this.adHocCacheSize = opts.adHocCacheSize ?? 2000;
    this.url = opts.workerUrl ?? renderWorkerUrl();
    this.onStop = opts.onStop ?? (() => {});
    if (!(this.deadlineMs > 0)) throw new Error(`render deadline must be a positive number of milliseconds, got ${this.deadlineMs}`);
  }

  // ---- the registry ----------------------------------------------------------------------------

  /** Compile and register (replacing any template of that name). Throws RenderError "syntax". */
  set(name: string, source: string): void {
    let error: unknown;
    try {
      compileTemplate(name, source);
    } catch (err) {
      if (!(err instanceof RenderError)) throw err;
      error = err; // registered all the same: an include of it says why it is broken
    }
    this.sources.set(name, source);
    this.broadcast({ t: "set", name, source });
    if (error) throw error;
  }

  delete(name: string): boolean {
    this.broadcast({ t: "delete", name });
    return this.sources.delete(name);
  }

  has(name: string): boolean {
    return this.sources.has(name);
  }

  // ---- rendering -------------------------------------------------------------------------------

  /** Render one target; throws RenderError (kind "deadline" when it ran out of time). */
  async render(target: RenderTarget, input: RenderInput, host: RenderHost): Promise<Rendered> {
    const r = (await this.renderAll([{ input, host, targets: [target] }]))[0]![0]!;
    if (r instanceof RenderError) throw r;
    return r;
  }

  /** Render many targets in one run; one outcome per target, in order (errors are values here). */
  renderAll(jobs: RenderJob[]): Promise<Outcome[][]> {
    const pending: Array<[number, number]> = [];
    jobs.forEach((j, ji) => j.targets.forEach((_t, ti) => pending.push([ji, ti])));
    if (pending.length === 0) return Promise.resolve(jobs.map(() => []));
    return new Promise((resolve) => {
      const run: Run = { jobs, results: jobs.map((j) => j.targets.map(() => undefined)), pending, resolve };
      if (this.closed) return this.finish(run, () => stopped("template rendering has stopped (server shutting down)"));
      this.queue.push(run);
      this.dispatch();
    });
  }

  /** Stop every worker; queued and running renders fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const running = new Set<Run>();
    for (const slot of [...this.slots]) {
      for (const it of slot.current?.items ?? []) running.add(it.run);
      if (slot.current) clearTimeout(slot.current.timer);
      slot.current = undefined;
      this.retire(slot);
    }
    for (const run of [...running, ...this.queue.splice(0)]) this.finish(run, () => stopped("template rendering has stopped (server shutting down)"));
  }

  // ---- workers ---------------------------------------------------------------------------------

  private broadcast(m: ToWorker): void {
    for (const s of this.slots) if (s.alive) s.worker.postMessage(m);
  }

  private dispatch(): void {
    if (this.closed) return;
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => s.alive && s.ready && !s.current);
      if (!slot) break;
      this.start(slot);
    }
    // Workers start on first need (a boot core that never renders costs no thread), all at once.
    while (this.queue.length > 0 && this.slots.length < this.size && this.spawn());
    const waiting = this.queue.length > 0;
    for (const s of this.slots) (waiting || s.current ? s.worker.ref() : s.worker.unref());
  }

  /** Start a worker; false when none can start (the queued renders have failed then). */
  private spawn(): boolean {
    if (this.startFailures >= MAX_START_FAILURES && performance.now() - this.lastStartFailure < START_RETRY_MS) {
      // The worker cannot start at all (a broken build): say so rather than wait for ever.
      for (const run of this.queue.splice(0)) this.finish(run, () => stopped("template rendering is unavailable: the render worker does not start"));
      return false;
    }
    let worker: Worker;
    try {
      worker = new Worker(this.url);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.startFailures = MAX_START_FAILURES;
      this.lastStartFailure = performance.now();
      this.onStop("render worker does not start", { error: why });
      for (const run of this.queue.splice(0)) this.finish(run, () => stopped(`template rendering is unavailable: the render worker does not start (${why})`));
      return false;
    }
    const channel = new MessageChannel();
    const progress = new SharedArrayBuffer(16);
    const slot: Slot = {
      worker,
      port: channel.port1,
      answered: new Int32Array(new SharedArrayBuffer(4)),
      progress: new Int32Array(progress, 0, 2),
      itemStart: new Float64Array(progress, 8, 1),
      template: new Uint16Array(new SharedArrayBuffer(TEMPLATE_NAME_MAX * 2)),
      ready: false,
      alive: true,
    };
    this.slots.push(slot);
    worker.onmessage = (ev: MessageEvent<FromWorker>) => this.onMessage(slot, ev.data);
    worker.onerror = (ev: ErrorEvent) => this.lost(slot, `render worker failed: ${ev.message}`);
    worker.addEventListener("close", () => this.lost(slot, "render worker exited"));
    const init: ToWorker = {
      t: "init",
      port: channel.port2,
      answered: slot.answered,
      progress: slot.progress,
      itemStart: slot.itemStart,
      template: slot.template,
      maxDepth: this.maxDepth,
      adHocCacheSize: this.adHocCacheSize,
    };
    worker.postMessage(init, [channel.port2]);
    for (const [name, source] of this.sources) worker.postMessage({ t: "set", name, source } satisfies ToWorker);
    worker.postMessage({ t: "sync" } satisfies ToWorker);
    return true;
  }

  /** Send the queue's head (and, while under BATCH items, the runs after it) to a free worker. */
  private start(slot: Slot): void {
    const items: Item[] = [];
    const sent: Array<{ run: Run; job: number }> = [];
    const jobs: WorkerJob[] = [];
    while (this.queue.length > 0 && (items.length === 0 || items.length + this.queue[0]!.pending.length <= BATCH)) {
      const run = this.queue.shift()!;
      for (const [job, target] of run.pending) {
        const last = sent[sent.length - 1];
        if (!last || last.run !== run || last.job !== job) {
          sent.push({ run, job });
          jobs.push({ input: run.jobs[job]!.input, targets: [] });
        }
        jobs[jobs.length - 1]!.targets.push(run.jobs[job]!.targets[target]!);
        items.push({ run, job, target });
      }
      run.pending = [];
    }
    const id = this.nextDispatch++;
    Atomics.store(slot.progress, 0, -1);
    slot.itemStart[0] = now();
    try {
      slot.worker.postMessage({ t: "run", run: id, jobs } satisfies ToWorker);
    } catch (err) {
      // An input that cannot be cloned: a bug of the caller, reported on every item.
      const msg = `cannot send the render to its worker: ${err instanceof Error ? err.message : String(err)}`;
      for (const it of items) it.run.results[it.job]![it.target] = withTarget(new RenderError("runtime", msg), targetOf(it));
      for (const run of new Set(items.map((it) => it.run))) this.settle(run);
      return;
    }
    slot.current = { id, items, sent, timer: setTimeout(() => this.overrun(slot), this.deadlineMs) };
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    if (!slot.alive) return;
    switch (m.t) {
      case "ready":
        slot.ready = true;
        this.startFailures = 0;
        this.dispatch();
        return;
      case "ask":
        return this.answer(slot, m.run, m.job, m.what);
      case "done": {
        const cur = slot.current;
        if (!cur || cur.id !== m.run) return;
        clearTimeout(cur.timer);
        slot.current = undefined;
        let i = 0;
        for (const list of m.results) {
          for (const w of list) {
            const it = cur.items[i++]!;
            it.run.results[it.job]![it.target] = w.ok ? { output: w.output, used: w.used } : new RenderError(w.error.kind, w.error.detail, w.error.chain, w.error.subject);
          }
        }
        for (const run of new Set(cur.items.map((it) => it.run))) this.settle(run);
        this.dispatch();
        return;
      }
    }
  }

  /** A worker's question during a render: computed here, posted on its port, then woken. */
  private answer(slot: Slot, id: number, sent: number, what: AskWhat): void {
    const cur = slot.current;
    let a: Answer;
    const job = cur && cur.id === id ? cur.sent[sent] : undefined;
    const fail = (err: unknown): Answer => ({ ok: false, error: err instanceof Error ? err.message : String(err) });
    if (!job) {
      a = { ok: false, error: "render no longer running" };
    } else {
      const host = job.run.jobs[job.job]!.host;
      try {
        const value = what === "params" ? host.params() : what === "token" ? host.token() : machineCertOf(host);
        if (value instanceof Promise) {
          // Asynchronous here (a machine certificate's key); the worker waits, under its deadline.
          const late = (answer: Answer) => {
            if (slot.alive && slot.current?.id === id) this.post(slot, answer);
          };
          value.then(
            (v) => late({ ok: true, value: v }),
            (err) => late(fail(err)),
          );
          return;
        }
        a = { ok: true, value };
      } catch (err) {
        a = fail(err);
      }
    }
    this.post(slot, a);
  }

  /** Post an answer to the worker and wake it. */
  private post(slot: Slot, a: Answer): void {
    slot.port.postMessage(a);
    Atomics.store(slot.answered, 0, 1);
    Atomics.notify(slot.answered, 0);
  }

  /** The timer went off: if the running item is past its deadline, stop the worker. */
  private overrun(slot: Slot): void {
    const cur = slot.current;
    if (!cur || !slot.alive) return;
    const elapsed = now() - slot.itemStart[0]!;
    if (elapsed < this.deadlineMs) {
      // A later item of the batch: it gets its own deadline, from its own start.
      cur.timer = setTimeout(() => this.overrun(slot), Math.max(1, this.deadlineMs - elapsed));
      return;
    }
    const at = Math.min(Math.max(0, Atomics.load(slot.progress, 0)), cur.items.length - 1);
    const inner = String.fromCharCode(...slot.template.subarray(0, Math.min(Atomics.load(slot.progress, 1), TEMPLATE_NAME_MAX)));
    const item = cur.items[at]!;
    const target = targetOf(item);
    const top = targetName(target);
    const chain = [{ template: top, line: undefined }];
    if (inner && inner !== top) chain.push({ template: inner, line: undefined });
    const err = new RenderError(
      "deadline",
      `rendering ran past the deadline of ${this.deadlineMs} ms and was stopped (a loop, deep recursion or a runaway regular expression?)`,
      chain,
      inner || top,
    );
    this.onStop("template render stopped at its deadline", { template: err.where?.template, render: top, deadlineMs: this.deadlineMs, for: item.run.jobs[item.job]!.input.target });
    const alike = sameTarget(target);
    this.fail(slot, cur, at, err, (it) => it.run === item.run && alike(targetOf(it)));
  }

  /** A worker that died on its own (or failed to start). */
  private lost(slot: Slot, why: string): void {
    if (!slot.alive) return;
    const cur = slot.current;
    if (!slot.ready) {
      this.startFailures++;
      this.lastStartFailure = performance.now();
    }
    if (!cur) {
      this.retire(slot);
      if (!this.closed) this.onStop("render worker lost", { error: why });
      this.dispatch();
      return;
    }
    const at = Math.min(Math.max(0, Atomics.load(slot.progress, 0)), cur.items.length - 1);
    const top = targetName(targetOf(cur.items[at]!));
    this.onStop("render worker lost", { error: why, render: top });
    this.fail(slot, cur, at, new RenderError("runtime", why, [{ template: top, line: undefined }]), () => false);
  }

  /** Item `at` failed with `err` (and any item `alike` it); the others go back to the queue's front. */
  private fail(slot: Slot, cur: NonNullable<Slot["current"]>, at: number, err: RenderError, alike: (it: Item) => boolean): void {
    clearTimeout(cur.timer);
    slot.current = undefined;
    this.retire(slot);
    const runs = new Set<Run>();
    cur.items.forEach((it, i) => {
      runs.add(it.run);
      if (i === at || alike(it)) it.run.results[it.job]![it.target] = err;
      else it.run.pending.push([it.job, it.target]);
    });
    const again = [...runs].filter((r) => r.pending.length > 0);
    this.queue.unshift(...again);
    for (const run of runs) if (run.pending.length === 0) this.settle(run);
    if (!this.closed && this.slots.length < this.size) this.spawn(); // the replacement, warm for the next render
    this.dispatch();
  }

  private retire(slot: Slot): void {
    slot.alive = false;
    slot.worker.terminate();
    slot.port.close();
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  private settle(run: Run): void {
    if (run.pending.length > 0 || run.results.some((list) => list.includes(undefined))) return;
    run.resolve(run.results as Outcome[][]);
  }

  private finish(run: Run, err: () => RenderError): void {
    run.results.forEach((list, j) => list.forEach((r, t) => (list[t] = r ?? withTarget(err(), run.jobs[j]!.targets[t]!))));
    run.pending = [];
    run.resolve(run.results as Outcome[][]);
  }
}

function targetOf(it: Item): RenderTarget {
  return it.run.jobs[it.job]!.targets[it.target]!;
}

function stopped(detail: string): RenderError {
  return new RenderError("runtime", detail);
}

function withTarget(err: RenderError, t: RenderTarget): RenderError {
  return err.within({ template: targetName(t), line: undefined });
}

/** Targets that render the same template as `t` (by name, or by label and text). */
function sameTarget(t: RenderTarget): (other: RenderTarget) => boolean {
  return "name" in t ? (o) => "name" in o && o.name === t.name : (o) => !("name" in o) && o.label === t.label && o.source === t.source;
}

/** it.MachineCert() of a host that may not offer it. */
function machineCertOf(host: RenderHost): unknown {
  if (!host.machineCert) throw new Error("MachineCert() is not available here");
  return host.machineCert();
}
