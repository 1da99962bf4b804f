// A render worker: its own template registry (compiled here from the sources the pool sends) and
// one run at a time. Runs in a worker thread so that the pool can terminate it at the deadline,
// whatever the template's code is doing (see render-pool.ts and worker-protocol.ts).

import { receiveMessageOnPort, type MessagePort as NodeMessagePort } from "node:worker_threads";
import { TemplateEngine } from "./engine.ts";
import { RenderError } from "./render-error.ts";
import { contextOf, type RenderHost } from "./render-input.ts";
import type { MachineCertView } from "./context.ts";
import { TEMPLATE_NAME_MAX, type AskWhat, type Answer, type FromWorker, type ToWorker, type WireError, type WireResult, type WorkerJob } from "./worker-protocol.ts";

declare const self: Worker;

let engine: TemplateEngine | undefined;
let port: NodeMessagePort;
let answered: Int32Array;
let progress: Int32Array;
let itemStart: Float64Array;
let template: Uint16Array;

const post = (m: FromWorker) => self.postMessage(m);

function showTemplate(name: string | undefined): void {
  const n = name === undefined ? 0 : Math.min(name.length, TEMPLATE_NAME_MAX);
  for (let i = 0; i < n; i++) template[i] = name!.charCodeAt(i);
  progress[1] = n;
}

/** Ask the server's thread and wait for its answer (the template is synchronous). */
function ask(run: number, job: number, what: AskWhat): unknown {
  Atomics.store(answered, 0, 0);
  post({ t: "ask", run, job, what });
  for (;;) {
    Atomics.wait(answered, 0, 0, 1000);
    const m = receiveMessageOnPort(port);
    if (m) {
      const a = m.message as Answer;
      if (!a.ok) throw new RenderError("runtime", a.error);
      return a.value;
    }
    // Not answered yet: the pool ends this worker at the deadline if it never is.
  }
}

function wire(err: unknown): WireError {
  if (err instanceof RenderError) return { kind: err.kind, detail: err.detail, chain: err.chain, subject: err.subject };
  return { kind: "runtime", detail: err instanceof Error ? err.message : String(err), chain: [] };
}

function runJobs(run: number, jobs: WorkerJob[]): WireResult[][] {
  const e = engine!;
  let item = 0;
  return jobs.map((job, j) => {
    const host: RenderHost = {
      params: () => ask(run, j, "params") as Array<[string, unknown]>,
      token: () => ask(run, j, "token") as string,
      machineCert: () => ask(run, j, "machineCert") as MachineCertView,
    };
    return job.targets.map((target): WireResult => {
      itemStart[0] = performance.timeOrigin + performance.now();
      Atomics.store(progress, 0, item++);
      const used = new Set<string>();
      try {
        const ctx = contextOf(e, job.input, host, used);
        const output = "name" in target ? e.render(target.name, ctx) : e.renderSource(target.label, target.source, ctx);
        return { ok: true, output, used: [...used] };
      } catch (err) {
        return { ok: false, error: wire(err) };
      }
    });
  });
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.t) {
    case "init":
      port = m.port as unknown as NodeMessagePort;
      answered = m.answered;
      progress = m.progress;
      itemStart = m.itemStart;
      template = m.template;
      engine = new TemplateEngine({ maxDepth: m.maxDepth, adHocCacheSize: m.adHocCacheSize, onTemplate: showTemplate });
      return;
    case "set":
      try {
        engine!.set(m.name, m.source);
      } catch {
        // The pool compiled it first and knows it is broken; the engine keeps the name failing.
      }
      return;
    case "delete":
      engine!.delete(m.name);
      return;
    case "sync":
      return post({ t: "ready" });
    case "run":
      return post({ t: "done", run: m.run, results: runJobs(m.run, m.jobs) });
  }
};
