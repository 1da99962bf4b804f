// One read transfer with its own socket and timer: the glue between a ReadTransfer (the protocol)
// and Bun. It runs the same way on the server's thread and inside a transfer worker, so every
// input is plain data (structured-clone friendly) and every output goes through SessionHooks.

import { loadSendto, peerSender } from "./fast-send.ts";
import { StreamBuffer } from "./stream-buffer.ts";
import { ReadTransfer, type TransferOutcome } from "./transfer.ts";

/** Everything negotiated for one transfer, as plain data. */
export interface SessionSpec {
  /** Our address the request arrived on: the transfer socket binds to it (port 0: a fresh TID). */
  localAddress: string;
  peerAddress: string;
  peerPort: number;
  blksize: number;
  windowsize: number;
  /** The formatted OACK, or undefined when the transfer starts with DATA 1. */
  oack: Uint8Array | undefined;
  timeoutMs: number;
  maxRetries: number;
  maxOackRetries: number;
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

/** Binds the transfer socket and starts sending; rejects only when the socket cannot be opened. */
export async function startSession(spec: SessionSpec, content: SessionContent, hooks: SessionHooks): Promise<Session> {
  let transfer: ReadTransfer | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
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
  const send = peerSender((sock as unknown as { fd?: number }).fd, spec.peerAddress, spec.peerPort, (pkt, p, addr) => void sock.send(pkt, p, addr));
  const close = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
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
      maxTimeoutMs: Math.max(spec.timeoutMs, 8 * spec.timeoutMs),
      maxRetries: spec.maxRetries,
      maxOackRetries: spec.maxOackRetries,
      data,
    },
    {
      send,
      now: () => performance.now(),
      wake: (ms) => {
        timer = setTimeout(() => {
          timer = undefined;
          t.onTimer();
        }, ms);
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
  return { abort: (reason, notify) => t.abort(reason, notify) };
}
