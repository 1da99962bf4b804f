// A fixed set of transfer workers (one per core by default). The server's thread keeps the
// request sockets, the FileSource and the bookkeeping; a worker runs whole transfers, each with its
// own socket, so the per-packet work of many clients is spread over every core.

import type { Session, SessionHooks, SessionSpec } from "./transfer-session.ts";
import type { TransferOutcome } from "./transfer.ts";
import type { FromWorker, ToWorker, WorkerContent } from "./worker-protocol.ts";

interface Pending {
  hooks: SessionHooks;
  started: (s: Session) => void;
  failed: (e: Error) => void;
  finished: boolean;
}

interface Slot {
  worker: Worker;
  /** Shared with the worker: messages posted and not yet handled (see worker-protocol.ts). */
  pending: Int32Array;
  sessions: Map<number, Pending>;
  alive: boolean;
}

export interface WorkerPool {
  /** Live workers. */
  readonly size: number;
  /** Runs a session on the least busy worker; null when no worker is alive (run it in-thread). */
  start(spec: SessionSpec, content: WorkerContent, hooks: SessionHooks): Promise<Session> | null;
  /** Aborts every session (telling clients), waits up to `graceMs` for them to end, stops the workers. */
  close(graceMs?: number): Promise<void>;
}

/**
 * `url` is the worker entry point (transfer-worker.ts); `onCrash` hears a worker that died,
 * `onWarning` a worker's own trouble that its transfers survive.
 */
export function createWorkerPool(count: number, url: string | URL, onCrash: (message: string) => void, onWarning: (message: string) => void = () => {}): WorkerPool {
  const slots: Slot[] = [];
  let nextId = 1;
  let closed = false;

  const failSlot = (slot: Slot, why: string) => {
    if (!slot.alive) return;
    slot.alive = false;
    onCrash(why);
    slot.worker.terminate();
    for (const p of slot.sessions.values()) {
      p.failed(new Error(why));
      endPending(p, { ok: false, reason: why, probe: false, bytes: 0, blocks: 0, retransmits: 0 });
    }
    slot.sessions.clear();
  };

  const endPending = (p: Pending, o: TransferOutcome) => {
    if (p.finished) return;
    p.finished = true;
    p.hooks.finished(o);
  };

  for (let i = 0; i < count; i++) {
    const worker = new Worker(url);
    const slot: Slot = { worker, pending: new Int32Array(new SharedArrayBuffer(4)), sessions: new Map(), alive: true };
    worker.postMessage({ t: "init", pending: slot.pending } satisfies ToWorker);
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.t === "warning") return onWarning(m.message);
      const p = slot.sessions.get(m.id);
      if (!p) return;
      switch (m.t) {
        case "started":
          return p.started({ abort: (reason, notify) => post(slot, { t: "abort", id: m.id, reason, notify }) });
        case "setup-failed":
          slot.sessions.delete(m.id);
          return p.failed(new Error(m.error));
        case "dropped":
          return p.hooks.dropped(m.reason);
        case "socket-error":
          return p.hooks.socketError(m.message);
        case "finished":
          slot.sessions.delete(m.id);
          return endPending(p, m.outcome);
      }
    };
    worker.onerror = (ev: ErrorEvent) => failSlot(slot, `TFTP transfer worker failed: ${ev.message}`);
    slots.push(slot);
  }

  const post = (slot: Slot, m: ToWorker) => {
    if (!slot.alive) return;
    Atomics.add(slot.pending, 0, 1);
    slot.worker.postMessage(m);
  };

  return {
    get size() {
      return slots.filter((s) => s.alive).length;
    },
    start(spec, content, hooks) {
      if (closed) return null;
      let best: Slot | undefined;
      for (const s of slots) if (s.alive && (!best || s.sessions.size < best.sessions.size)) best = s;
      if (!best) return null;
      const slot = best;
      const id = nextId++;
      return new Promise<Session>((started, failed) => {
        slot.sessions.set(id, { hooks, started, failed, finished: false });
        // Bytes are copied (structured clone): the source may keep and share its buffer.
        post(slot, { t: "start", id, spec, content });
      });
    },
    async close(graceMs = 1000) {
      if (closed) return;
      closed = true;
      for (const slot of slots) {
        for (const id of slot.sessions.keys()) post(slot, { t: "abort", id, reason: "server shutting down", notify: true });
      }
      const deadline = performance.now() + graceMs;
      while (performance.now() < deadline && slots.some((s) => s.alive && s.sessions.size > 0)) await Bun.sleep(5);
      for (const slot of slots) {
        for (const p of slot.sessions.values()) endPending(p, { ok: false, reason: "server shutting down", probe: false, bytes: 0, blocks: 0, retransmits: 0 });
        slot.sessions.clear();
        slot.alive = false;
        slot.worker.terminate();
      }
    },
  };
}
