// Messages between the server's thread (render-pool.ts) and a render worker (render-worker.ts).
//
// A run carries jobs, each one input (one `it`) and the targets rendered with it; the worker
// answers with one result per target. While it runs, the worker may need what only the server's
// thread has (parameters when they were not sent along, a token, a machine certificate): it posts an "ask" and blocks
// (Atomics.wait on `answered`) until the answer is on its MessagePort, which it reads with
// receiveMessageOnPort. So templates keep their synchronous it.param() and it.GenerateToken().
//
// Shared memory, written by the worker and read by the pool when a deadline timer goes off (the
// worker may be unable to answer then): `progress[0]` the index of the item (job, target, in
// order) being rendered, `itemStart[0]` when it started (performance.timeOrigin +
// performance.now(), ms), `progress[1]` the length of the name of the template running
// (innermost include), whose UTF-16 code units are in `template`.

import type { RenderFrame, RenderErrorKind } from "./render-error.ts";
import type { RenderInput, RenderTarget } from "./render-input.ts";

export const TEMPLATE_NAME_MAX = 256;

export interface WorkerJob {
  input: RenderInput;
  targets: RenderTarget[];
}

/** A RenderError as it crosses threads. */
export interface WireError {
  kind: RenderErrorKind;
  detail: string;
  chain: RenderFrame[];
  subject?: string;
}

export type WireResult = { ok: true; output: string; used: string[] } | { ok: false; error: WireError };

export type ToWorker =
  | {
      t: "init";
      port: MessagePort;
      answered: Int32Array;
      progress: Int32Array;
      itemStart: Float64Array;
      template: Uint16Array;
      maxDepth: number;
      adHocCacheSize: number;
    }
  | { t: "set"; name: string; source: string }
  | { t: "delete"; name: string }
  /** Answered with "ready" once everything posted before it is done (the registry is compiled). */
  | { t: "sync" }
  | { t: "run"; run: number; jobs: WorkerJob[] };

/** What a worker may ask of the server's thread during a render. */
export type AskWhat = "params" | "token" | "machineCert";

export type FromWorker =
  | { t: "ready" }
  | { t: "ask"; run: number; job: number; what: AskWhat }
  | { t: "done"; run: number; results: WireResult[][] };

/** The answer to an "ask", posted on the worker's MessagePort. */
export type Answer = { ok: true; value: unknown } | { ok: false; error: string };
