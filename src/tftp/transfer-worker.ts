// Entry point of a TFTP transfer worker thread: runs the sessions the server hands it, each with
// its own socket, so transfers use every core (tftpd-hpa gets the same by forking per client).
// Listed as an extra entry point in build/compile.ts so the compiled binary contains it.

import { loadPollIo } from "./poll-io.ts";
import { Reactor } from "./reactor.ts";
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
 * The thread's poll loop over all its transfers (reactor.ts). It runs only while nothing waits in
 * the message queue (a new transfer, an abort, the pool closing); null without FFI, and then the
 * transfers run on the event loop alone.
 */
let reactor: Reactor | null = null;
/** Made on "init" (always the first message), which carries the loop's tuning. */
let reactorReady: Promise<void> = Promise.resolve();

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.t === "init") {
    pending = m.pending;
    const spin = m.spin;
    reactorReady = loadPollIo().then((io) => {
      if (!io) return;
      reactor = new Reactor(io, () => pending !== null && Atomics.load(pending, 0) === 0, {
        onError: (message) => post({ t: "warning", message }),
        ...(spin === undefined ? {} : { spin }),
      });
    });
    return;
  }
  if (pending) Atomics.sub(pending, 0, 1);
  // Whatever this message changed, the loop may run again once the queue is empty.
  queueMicrotask(() => reactor?.kick());
  if (m.t === "stop") {
    // The pool sends it only to a worker without sessions, and sends nothing after it.
    reactor?.close();
    reactor = null;
    post({ t: "stopped" });
    return;
  }
  if (m.t === "abort") {
    const s = sessions.get(m.id);
    if (s) s.abort(m.reason, m.notify);
    else if (starting.has(m.id)) pendingAbort.set(m.id, { reason: m.reason, notify: m.notify });
    return;
  }
  const id = m.id;
  let done = false;
  starting.add(id);
  reactorReady.then(() => startSession(m.spec, m.content, {
    dropped: (reason) => post({ t: "dropped", id, reason }),
    socketError: (message) => post({ t: "socket-error", id, message }),
    finished: (outcome) => {
      done = true;
      sessions.delete(id);
      post({ t: "finished", id, outcome });
    },
  }, reactor ?? undefined)).then(
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
