// Entry point of a TFTP transfer worker thread: runs the sessions the server hands it, each with
// its own socket, so transfers use every core (tftpd-hpa gets the same by forking per client).
// Listed as an extra entry point in build/compile.ts so the compiled binary contains it.

import { startSession, type Session } from "./transfer-session.ts";
import type { FromWorker, ToWorker } from "./worker-protocol.ts";

declare const self: Worker;

const sessions = new Map<number, Session>();
/** Sessions whose socket is still opening. */
const starting = new Set<number>();
/** Aborts that arrived while the session's socket was still opening. */
const pendingAbort = new Map<number, { reason: string; notify: boolean }>();
const post = (m: FromWorker) => self.postMessage(m);
/** Messages the pool has posted and this thread has not handled yet (null: an old pool, never block). */
let pending: Int32Array | null = null;

/**
 * A lockstep transfer may block this thread only while it is the thread's one job and nothing
 * waits in its message queue (a new transfer, an abort, the pool closing).
 */
const lockstep = {
  mayBlock: () => pending !== null && sessions.size + starting.size <= 1 && Atomics.load(pending, 0) === 0,
};

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.t === "init") {
    pending = m.pending;
    return;
  }
  if (pending) Atomics.sub(pending, 0, 1);
  if (m.t === "abort") {
    const s = sessions.get(m.id);
    if (s) s.abort(m.reason, m.notify);
    else if (starting.has(m.id)) pendingAbort.set(m.id, { reason: m.reason, notify: m.notify });
    return;
  }
  const id = m.id;
  let done = false;
  starting.add(id);
  startSession(m.spec, m.content, {
    dropped: (reason) => post({ t: "dropped", id, reason }),
    socketError: (message) => post({ t: "socket-error", id, message }),
    finished: (outcome) => {
      done = true;
      sessions.delete(id);
      post({ t: "finished", id, outcome });
    },
  }, lockstep).then(
    (s) => {
      starting.delete(id);
      const abort = pendingAbort.get(id);
      pendingAbort.delete(id);
      post({ t: "started", id });
      if (done) return; // ended already (the client vanished during start)
      sessions.set(id, s);
      if (abort) s.abort(abort.reason, abort.notify);
    },
    (e: unknown) => {
      starting.delete(id);
      pendingAbort.delete(id);
      post({ t: "setup-failed", id, error: e instanceof Error ? e.message : String(e) });
    },
  );
};
