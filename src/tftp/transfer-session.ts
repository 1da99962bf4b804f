// One read transfer with its own socket and timer: the glue between a ReadTransfer (the protocol)
// and Bun. It runs the same way on the server's thread and inside a transfer worker, so every
// input is plain data (structured-clone friendly) and every output goes through SessionHooks.

import { EAGAIN, ECONNREFUSED, EINTR, MSG_DONTWAIT, loadBlockingIo, parseSockaddrIn, sameSockaddrIn, type BlockingIo } from "./blocking-io.ts";
import { loadSendto, peerSender, sockaddrIn } from "./fast-send.ts";
import { StreamBuffer } from "./stream-buffer.ts";
import { ReadTransfer, type TransferOutcome, type TransferParams } from "./transfer.ts";

/**
 * Everything negotiated for one transfer, as plain data (it crosses to worker threads): the
 * transfer's own parameters, plus where to bind and the transfer mode.
 */
export interface SessionSpec
  extends Pick<TransferParams, "peerAddress" | "peerPort" | "blksize" | "windowsize" | "oack" | "timeoutMs" | "maxRetries" | "maxOackRetries"> {
  /** Our address the request arrived on: the transfer socket binds to it (port 0: a fresh TID). */
  localAddress: string;
  netascii: boolean;
}

/** Where the bytes come from: a stream opener (same thread only), a plain file, or bytes in memory. */
export type SessionContent =
  | { kind: "stream"; open: () => ReadableStream<Uint8Array> }
  | { kind: "disk"; path: string }
  | { kind: "bytes"; bytes: Uint8Array };

export interface SessionHooks {
  /** A packet from the client that was ignored. */
  dropped(reason: string): void;
  /** A socket error worth a (rate-limited) warning. */
  socketError(message: string): void;
  /** Called exactly once, also after abort(). */
  finished(outcome: TransferOutcome): void;
}

export interface Session {
  /** Ends the transfer (server stopping); `notify` sends the client an ERROR first. */
  abort(reason: string, notify: boolean): void;
}

export function contentOpener(c: SessionContent): () => ReadableStream<Uint8Array> {
  switch (c.kind) {
    case "stream":
      return c.open;
    case "disk":
      return () => Bun.file(c.path).stream();
    case "bytes":
      return () =>
        new ReadableStream<Uint8Array>({
          start(ctl) {
            ctl.enqueue(c.bytes);
            ctl.close();
          },
        });
  }
}

/**
 * Lets a lockstep transfer (windowsize 1) on a dedicated thread run as a blocking loop on its
 * socket's descriptor: recvfrom waits for each ACK in the kernel, sendto answers, no event loop
 * in between. The thread's event loop does not run meanwhile, so the loop checks `mayBlock`
 * before every receive (and at least every LOCKSTEP_SLICE_MS) and hands the transfer back to the
 * event loop as soon as it says no (another job or an abort is waiting for the thread).
 */
export interface LockstepPolicy {
  mayBlock(): boolean;
}

/** How long one blocking receive waits before the loop checks its timer and `mayBlock` again. */
export const LOCKSTEP_SLICE_MS = 20;
/** Non-blocking receives tried before a blocking one (about a microsecond each). */
export const LOCKSTEP_SPIN = 32;

type Udp = Bun.udp.Socket<"uint8array">;

/** Binds the transfer socket and starts sending; rejects only when the socket cannot be opened. */
export async function startSession(spec: SessionSpec, content: SessionContent, hooks: SessionHooks, lockstep?: LockstepPolicy): Promise<Session> {
  let transfer: ReadTransfer | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** When the transfer wants its onTimer() (performance.now() time), whoever runs it. */
  let timerDue: number | undefined;
  /** The descriptor is in blocking mode and the lockstep loop owns the transfer. */
  let blocking = false;
  let socket: Udp | undefined;
  await loadSendto();
  const io = lockstep && spec.windowsize === 1 ? await loadBlockingIo() : null;
  socket = await Bun.udpSocket({
    hostname: spec.localAddress,
    port: 0,
    binaryType: "uint8array",
    socket: {
      data: (_s, buf, p, addr) => {
        try {
          transfer?.onDatagram(buf, p, addr);
        } catch (e) {
          hooks.socketError(`transfer packet handling failed for ${addr}:${p}: ${e instanceof Error ? e.message : String(e)}`);
        }
      },
      // A client that went away makes the kernel report ECONNREFUSED (ICMP port unreachable):
      // the transfer then ends without waiting for its retransmissions to run out.
      error: (_s, e) => {
        const code = (e as { code?: string } | undefined)?.code;
        if (code === "ECONNREFUSED") transfer?.abort("client port unreachable", false);
        else hooks.socketError(`transfer socket error: ${e instanceof Error ? e.message : String(e)}`);
      },
    },
  });
  const sock = socket;
  const fd = (sock as unknown as { fd?: number }).fd;
  const send = peerSender(fd, spec.peerAddress, spec.peerPort, (pkt, p, addr) => void sock.send(pkt, p, addr));
  const fire = () => {
    timer = undefined;
    timerDue = undefined;
    t.onTimer();
  };
  /** Back to the event loop: the descriptor non-blocking again, the pending wake-up as a timer. */
  const leaveBlocking = () => {
    if (!blocking) return;
    blocking = false;
    if (io && typeof fd === "number" && !io.setBlocking(fd, false)) hooks.socketError("transfer socket: cannot make it non-blocking again");
    if (timerDue !== undefined && socket) timer = setTimeout(fire, Math.max(0, timerDue - performance.now()));
  };
  const close = () => {
    leaveBlocking();
    if (timer) clearTimeout(timer);
    timer = undefined;
    timerDue = undefined;
    socket?.close();
    socket = undefined;
  };
  const data = new StreamBuffer(contentOpener(content), {
    netascii: spec.netascii,
    readAhead: Math.max(256 * 1024, 2 * spec.blksize * spec.windowsize),
  });
  const t = new ReadTransfer(
    {
      peerAddress: spec.peerAddress,
      peerPort: spec.peerPort,
      blksize: spec.blksize,
      windowsize: spec.windowsize,
      oack: spec.oack,
      timeoutMs: spec.timeoutMs,
      maxTimeoutMs: 8 * spec.timeoutMs,
      maxRetries: spec.maxRetries,
      maxOackRetries: spec.maxOackRetries,
      data,
    },
    {
      send,
      now: () => performance.now(),
      wake: (ms) => {
        timerDue = performance.now() + ms;
        if (!blocking) timer = setTimeout(fire, ms);
      },
      dropped: (reason) => hooks.dropped(reason),
      finished: (o) => {
        close();
        hooks.finished(o);
      },
    },
  );
  transfer = t;
  t.start();
  const peerSa = sockaddrIn(spec.peerAddress, spec.peerPort);
  if (io && lockstep && peerSa && typeof fd === "number" && fd >= 0 && io.setReceiveTimeout(fd, LOCKSTEP_SLICE_MS)) {
    // After the caller has registered the session (and the worker has reported it started).
    setImmediate(() => {
      runLockstep(io, fd, peerSa, lockstep).catch((e: unknown) => {
        leaveBlocking();
        hooks.socketError(`lockstep transfer loop failed: ${e instanceof Error ? e.message : String(e)}`);
      });
    });
  }
  return { abort: (reason, notify) => t.abort(reason, notify) };

  /** Enters blocking mode; false (and the event loop keeps the transfer) when it cannot. */
  function enterBlocking(io: BlockingIo, fd: number): boolean {
    if (!socket || !t.active || !io.setBlocking(fd, true)) return false;
    blocking = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    return true;
  }

  async function runLockstep(io: BlockingIo, fd: number, peerSa: Uint8Array, policy: LockstepPolicy): Promise<void> {
    const buf = new Uint8Array(4096);
    const from = new Uint8Array(16);
    if (!policy.mayBlock() || !enterBlocking(io, fd)) return;
    try {
      // Ends with the transfer (its retransmissions are bounded) or when the thread is wanted.
      while (t.active) {
        const waiting = t.waitingForData;
        if (waiting) {
          // The source is read through promises: let the event loop run until it has the bytes.
          leaveBlocking();
          await waiting;
          if (!policy.mayBlock() || !enterBlocking(io, fd)) return;
          continue;
        }
        if (!policy.mayBlock()) return;
        // On a fast link the ACK is often a few microseconds away: polling for it briefly saves
        // the sleep and wake-up of a blocking receive, which is most of the per-block gap.
        let n = -EAGAIN;
        for (let spin = 0; spin < LOCKSTEP_SPIN && n === -EAGAIN; spin++) n = io.recvfrom(fd, buf, from, MSG_DONTWAIT);
        if (n === -EAGAIN) n = io.recvfrom(fd, buf, from);
        if (n >= 0) {
          if (sameSockaddrIn(from, peerSa)) t.onDatagram(buf.subarray(0, n), spec.peerPort, spec.peerAddress);
          else {
            const who = parseSockaddrIn(from);
            if (who) t.onDatagram(buf.subarray(0, n), who.port, who.address);
            else hooks.dropped(`packet from a non-IPv4 sender`);
          }
        } else if (n === -ECONNREFUSED) {
          t.abort("client port unreachable", false);
        } else if (n !== -EAGAIN && n !== -EINTR) {
          hooks.socketError(`transfer socket: recvfrom failed with errno ${-n}; back to the event loop`);
          return;
        }
        if (timerDue !== undefined && t.active && performance.now() >= timerDue) {
          timerDue = undefined;
          t.onTimer();
        }
      }
    } finally {
      leaveBlocking();
    }
  }
}
