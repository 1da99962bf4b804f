// One read transfer with its own socket and timer: the glue between a ReadTransfer (the protocol)
// and Bun. It runs the same way on the server's thread and inside a transfer worker, so every
// input is plain data (structured-clone friendly) and every output goes through SessionHooks.

import { loadSendto, peerSender, sockaddrIn } from "./fast-send.ts";
import { EAGAIN, ECONNREFUSED, EINTR, parseSockaddrIn, sameSockaddrIn } from "./poll-io.ts";
import type { Driven, Reactor } from "./reactor.ts";
import { StreamBuffer, syncFile } from "./stream-buffer.ts";
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

type Udp = Bun.udp.Socket<"uint8array">;

/** The transfer's bytes: a file is read synchronously when a reactor drives the transfer. */
function contentBuffer(content: SessionContent, spec: SessionSpec, sync: boolean): StreamBuffer {
  const opts = { netascii: spec.netascii, readAhead: Math.max(256 * 1024, 2 * spec.blksize * spec.windowsize) };
  if (sync && content.kind === "disk") return StreamBuffer.sync(() => syncFile(content.path), opts);
  return new StreamBuffer(contentOpener(content), opts);
}

/**
 * Binds the transfer socket and starts sending; rejects only when the socket cannot be opened.
 * With a `reactor` (transfer workers), the worker's poll loop receives and times the transfer
 * while it runs; Bun's event loop and this socket's callbacks cover the rest of the time.
 */
export async function startSession(spec: SessionSpec, content: SessionContent, hooks: SessionHooks, reactor?: Reactor): Promise<Session> {
  let transfer: ReadTransfer | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** When the transfer wants its onTimer() (performance.now() time), whoever runs it. */
  let timerDue: number | undefined;
  /** The reactor runs the timer (no Bun timer is pending). */
  let owned = false;
  let socket: Udp | undefined;
  await loadSendto();
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
  const peerSa = sockaddrIn(spec.peerAddress, spec.peerPort);
  const driven = reactor && typeof fd === "number" && fd >= 0 && peerSa ? reactor : undefined;
  const send = peerSender(fd, spec.peerAddress, spec.peerPort, (pkt, p, addr) => void sock.send(pkt, p, addr));
  const fire = () => {
    timer = undefined;
    timerDue = undefined;
    t.onTimer();
  };
  const own = (on: boolean) => {
    if (on === owned) return;
    owned = on;
    if (on) {
      if (timer) clearTimeout(timer);
      timer = undefined;
    } else if (timerDue !== undefined && socket) {
      timer = setTimeout(fire, Math.max(0, timerDue - performance.now()));
    }
  };
  const close = () => {
    if (driven) driven.remove(entry);
    owned = false;
    if (timer) clearTimeout(timer);
    timer = undefined;
    timerDue = undefined;
    socket?.close();
    socket = undefined;
  };
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
      data: contentBuffer(content, spec, driven !== undefined),
    },
    {
      send,
      // While the reactor drives the transfer, its clock is the loop's last wakeup (one read per
      // wakeup instead of one per block).
      now: () => (owned ? driven!.now : performance.now()),
      wake: (ms) => {
        timerDue = (owned ? driven!.now : performance.now()) + ms;
        if (owned) driven!.rescheduled(entry);
        else timer = setTimeout(fire, ms);
      },
      dropped: (reason) => hooks.dropped(reason),
      finished: (o) => {
        close();
        hooks.finished(o);
      },
    },
  );
  transfer = t;
  // Over ArrayBuffers of their own: their storage never moves, so the receiver takes their
  // addresses once. A 4-byte datagram (an ACK, nearly every one) is handed over as one fixed view.
  const buf = new Uint8Array(new ArrayBuffer(4096));
  const from = new Uint8Array(new ArrayBuffer(16));
  const ack = buf.subarray(0, 4);
  const receive = driven?.io.receiver(buf, from);
  /** The transfer as the worker's reactor drives it. */
  const entry: Driven = {
    fd: fd ?? -1,
    get waiting() {
      return t.waitingForData;
    },
    get due() {
      return timerDue;
    },
    readable() {
      if (!receive || !t.active) return;
      try {
        take();
      } catch (e) {
        failed("transfer packet handling", e);
      }
    },
    fire() {
      if (!t.active) return;
      try {
        fire();
      } catch (e) {
        failed("transfer timer", e);
      }
    },
    own,
  };
  /**
   * A throw while handling one transfer ends that transfer only, as on the Bun callback path; left
   * to the reactor it would stop the loop for every transfer of this worker.
   */
  const failed = (what: string, e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    hooks.socketError(`${what} failed for ${spec.peerAddress}:${spec.peerPort}: ${message}`);
    if (t.active) t.abort("internal error", true); // the details stay in the log, not on the wire
  };
  /** One datagram (or the socket's error) off the transfer socket, handled. */
  const take = () => {
    const n = receive!(entry.fd);
    if (n >= 0) {
      if (sameSockaddrIn(from, peerSa!)) t.onDatagram(n === 4 ? ack : buf.subarray(0, n), spec.peerPort, spec.peerAddress);
      else {
        const who = parseSockaddrIn(from);
        if (who) t.onDatagram(buf.subarray(0, n), who.port, who.address);
        else hooks.dropped("packet from a non-IPv4 sender");
      }
    } else if (n === -ECONNREFUSED) {
      t.abort("client port unreachable", false);
    } else if (n !== -EAGAIN && n !== -EINTR) {
      // A socket that fails otherwise stays failed (poll would report it again and again).
      hooks.socketError(`transfer socket: recvfrom failed with errno ${-n}`);
      t.abort(`transfer socket failed (errno ${-n})`, true);
    }
  };
  t.start();
  // After the caller has registered the session (and the worker has reported it started).
  if (driven && t.active) setImmediate(() => t.active && driven.add(entry));
  return { abort: (reason, notify) => t.abort(reason, notify) };
}
