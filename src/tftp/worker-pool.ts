// Transfer workers, up to one per core by default, started when transfers need them. The server's
// thread keeps the request sockets, the FileSource and the bookkeeping; a worker runs whole
// transfers, each with its own socket, so the per-packet work of many clients is spread over every
// core.
//
// Workers cost memory (a JavaScript heap each) and nothing else while idle, and a provisioning
// server is idle most of the day: a worker starts on the transfer that finds every running worker
// busy, and stops after `idleMs` without a transfer. Stopping is a handshake (the worker closes its
// epoll descriptor, which the process would otherwise keep); a stopping worker is never handed a new
// transfer, so none can be lost on the way out.

import type { Session, SessionHooks, SessionSpec } from "./transfer-session.ts";
import type { TransferOutcome } from "./transfer.ts";
import type { FromWorker, ToWorker, WorkerContent } from "./worker-protocol.ts";

/** The session of a transfer that has ended: nothing left to abort. */
const ENDED: Session = { abort() {} };

/** How long an idle worker lives by default. */
export const WORKER_IDLE_MS = 60_000;
/** A stopping worker that has not confirmed by then is terminated anyway. */
const STOP_GRACE_MS = 2_000;

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
  /** Told to stop: takes no new transfer. */
  stopping: boolean;
  idle: ReturnType<typeof setTimeout> | undefined;
}

export interface WorkerPool {
  /** Running workers. */
  readonly size: number;
  /**
   * Runs a session on the least busy worker, starting one when all are busy and the pool is not
   * full; null when no worker can run it (run it in-thread).
   */
  start(spec: SessionSpec, content: WorkerContent, hooks: SessionHooks): Promise<Session> | null;
  /** Aborts every session (telling clients), waits up to `graceMs` for them to end, stops the workers. */
  close(graceMs?: number): Promise<void>;
}

export interface WorkerTuning {
  /** Passed to each worker's reactor (reactor.ts). */
  spin?: number;
  /** A worker without a transfer for this long stops. Default WORKER_IDLE_MS. */
  idleMs?: number;
}

/**
 * `count` is the most workers at once; `url` is the worker entry point (transfer-worker.ts);
 * `onCrash` hears a worker that died, `onWarning` a worker's own trouble that its transfers survive.
 * A worker that dies is not replaced (its slot counts against `count`): a worker that cannot start
 * at all must not be started again for every request.
 */
export function createWorkerPool(
  count: number,
  url: string | URL,
  onCrash: (message: string) => void,
  onWarning: (message: string) => void = () => {},
  tuning: WorkerTuning = {},
): WorkerPool {
  const slots: Slot[] = [];
  let crashed = 0;
  let nextId = 1;
  let closed = false;
  const idleMs = tuning.idleMs ?? WORKER_IDLE_MS;
  const init = tuning.spin === undefined ? {} : { spin: tuning.spin };

  const failSlot = (slot: Slot, why: string) => {
    if (!slot.alive) return;
    slot.alive = false;
    crashed++;
    if (slot.idle) clearTimeout(slot.idle);
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
    // A transfer can end before "started" arrives (its file failed to open), or the pool closes
    // first: the caller's wait for the session ends too (a no-op when it has settled already).
    p.started(ENDED);
  };

  /** The worker has gone for good: out of the list. */
  const drop = (slot: Slot) => {
    slot.alive = false;
    if (slot.idle) clearTimeout(slot.idle);
    slot.idle = undefined;
    slot.worker.terminate();
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
  };

  const stopIdle = (slot: Slot) => {
    slot.idle = undefined;
    if (!slot.alive || slot.stopping || slot.sessions.size > 0 || closed) return;
    slot.stopping = true;
    post(slot, { t: "stop" });
    setTimeout(() => slot.alive && drop(slot), STOP_GRACE_MS).unref?.();
  };

  /** A session left `slot`: start its idle clock when it has none left. */
  const ended = (slot: Slot) => {
    if (slot.sessions.size > 0 || slot.stopping || !slot.alive || closed || !Number.isFinite(idleMs)) return;
    if (slot.idle) clearTimeout(slot.idle);
    slot.idle = setTimeout(() => stopIdle(slot), idleMs);
    slot.idle.unref?.();
  };

  const spawn = (): Slot => {
    const worker = new Worker(url);
    const slot: Slot = { worker, pending: new Int32Array(new SharedArrayBuffer(4)), sessions: new Map(), alive: true, stopping: false, idle: undefined };
    worker.postMessage({ t: "init", pending: slot.pending, ...init } satisfies ToWorker);
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.t === "warning") return onWarning(m.message);
      if (m.t === "stopped") return drop(slot);
      const p = slot.sessions.get(m.id);
      if (!p) return;
      switch (m.t) {
        case "started":
          return p.started({ abort: (reason, notify) => post(slot, { t: "abort", id: m.id, reason, notify }) });
        case "setup-failed":
          slot.sessions.delete(m.id);
          p.failed(new Error(m.error));
          return ended(slot);
        case "dropped":
          return p.hooks.dropped(m.reason);
        case "socket-error":
          return p.hooks.socketError(m.message);
        case "finished":
          slot.sessions.delete(m.id);
          endPending(p, m.outcome);
          return ended(slot);
      }
    };
    worker.onerror = (ev: ErrorEvent) => failSlot(slot, `TFTP transfer worker failed: ${ev.message}`);
    slots.push(slot);
    return slot;
  };

  const post = (slot: Slot, m: ToWorker) => {
    if (!slot.alive) return;
    Atomics.add(slot.pending, 0, 1);
    slot.worker.postMessage(m);
  };

  return {
    get size() {
      return slots.filter((s) => s.alive && !s.stopping).length;
    },
    start(spec, content, hooks) {
      if (closed) return null;
      let best: Slot | undefined;
      let running = 0;
      for (const s of slots) {
        if (!s.alive || s.stopping) continue;
        running++;
        if (!best || s.sessions.size < best.sessions.size) best = s;
      }
      // Every running worker busy (or none running): another one, while the pool has room.
      if ((!best || best.sessions.size > 0) && running + crashed < count) best = spawn();
      if (!best) return null;
      const slot = best;
      if (slot.idle) clearTimeout(slot.idle);
      slot.idle = undefined;
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
        if (slot.idle) clearTimeout(slot.idle);
        for (const id of slot.sessions.keys()) post(slot, { t: "abort", id, reason: "server shutting down", notify: true });
      }
      const deadline = performance.now() + graceMs;
      while (performance.now() < deadline && slots.some((s) => s.alive && s.sessions.size > 0)) await Bun.sleep(5);
      for (const slot of [...slots]) {
        for (const p of slot.sessions.values()) endPending(p, { ok: false, reason: "server shutting down", probe: false, bytes: 0, blocks: 0, retransmits: 0 });
        slot.sessions.clear();
        drop(slot);
      }
    },
  };
}
