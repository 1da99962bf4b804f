// The TFTP server: read requests only, files from one FileSource.
//
// Bun has no IP_PKTINFO, so the address a request arrived on is known by listening on each local
// address separately; each transfer then gets its own ephemeral-port socket bound to that same
// address, so replies leave from the address the client used (its next-server) and the transfer's
// TID is a fresh port, as RFC 1350 wants.
//
// Transfers run on a pool of worker threads (up to one per core, started on demand and stopped
// when idle; see worker-pool.ts) when their content can cross threads:
// a plain file (BootFile.diskPath, the worker reads it) or content of known size up to
// INLINE_LIMIT (read here, copied over). Anything else, or `workers: 0`, runs on this thread.

import type { BootFile, FileFacts, FileSource } from "../files/file-source.ts";
import { rateLimited, type Logger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { interfaceOf, localIpv4Addresses, maxBlksizeFor } from "./local-addresses.ts";
import { DEFAULT_LIMITS, negotiate } from "./options.ts";
import { ERROR_CODES, formatError, formatOack, opcodeOf, parsePacket, TftpFormatError } from "./packet.ts";
import { normaliseRequestPath } from "../files/paths.ts";
import type { TransferOutcome } from "./transfer.ts";
import { startSession, type Session, type SessionHooks, type SessionSpec } from "./transfer-session.ts";
import { createWorkerPool, type WorkerPool } from "./worker-pool.ts";
import type { WorkerContent } from "./worker-protocol.ts";
import { transferWorkerUrl } from "./worker-url.ts";
import { Kind, TftpOutcome } from "../timeline/kinds.ts";
import type { Timeline } from "../timeline/recorder.ts";
import { macToString } from "../timeline/mac.ts";

/** Content without a disk path up to this size is read in full and handed to a worker. */
export const INLINE_LIMIT = 8 * 1024 * 1024;

export interface TftpServerOptions {
  port: number;
  source: FileSource;
  log: Logger;
  /** Concurrent transfers; further requests get ERROR 0 "server busy". Default 256. */
  maxTransfers?: number;
  /** Addresses to listen on. Default: every local IPv4 address, re-read when interfaces change. */
  listen?: string[];
  /** First retransmission timeout when the client sends no timeout option. Default 1000 ms. */
  retransmitMs?: number;
  /** Retransmissions of one window before a transfer is abandoned. Default 5. */
  maxRetries?: number;
  /** Retransmissions of an OACK nobody acknowledges (EDK2 probes). Default 2. */
  maxOackRetries?: number;
  /** How often the default listen set is re-read (refresh() re-reads it at once). Default 5000 ms. */
  pollMs?: number;
  /** Where the default listen set comes from. Default: every local IPv4 address. Ignored with `listen`. */
  addresses?: () => string[];
  /** Cap on blksize; default: from the MTU of the listening address's interface. */
  maxBlksize?: number;
  maxWindowsize?: number;
  /** Transfer worker threads; 0 runs every transfer on this thread. Default: one per core (at most 8). */
  workers?: number;
  /** Non-blocking waits a worker makes for a lone transfer's ACK before it sleeps (reactor.ts). */
  spin?: number;
  /** Workers start with the first transfer that needs one and stop after this long without one. Default 60 s. */
  workerIdleMs?: number;
  /** The boot timeline: each request's outcome, for the MAC its address belongs to. */
  timeline?: Timeline;
}

export interface TftpStats {
  listening: { address: string; port: number }[];
  active: number;
  requests: number;
  completed: number;
  failed: number;
  /** Requests answered with an ERROR (missing file, refused path, WRQ, busy). */
  refused: number;
  /** tsize probes abandoned after the OACK (EDK2). */
  probes: number;
  bytesSent: number;
  retransmits: number;
  dropped: number;
}

export interface TftpServer {
  stop(): Promise<void>;
  /**
   * Re-reads the listen set now instead of at the next poll: binds addresses that appeared, closes
   * those that went. For the moment an address is added or removed (the HA pair's VIP), so a client
   * told to use it is answered at once. A fixed `listen` set only gets failed binds retried.
   */
  refresh(): Promise<void>;
  stats(): TftpStats;
}

type Udp = Bun.udp.Socket<"uint8array">;

interface Listener {
  address: string;
  socket: Udp;
  maxBlksize: number;
}

interface Active {
  key: string;
  client: string;
  /** The client's address alone (the timeline's key). */
  from: string;
  path: string;
  session: Session | undefined;
  started: number;
  /** Set when the transfer must end before it has started (server stopping). */
  cancelled: boolean;
}

export async function startTftpServer(opts: TftpServerOptions): Promise<TftpServer> {
  const log = opts.log;
  const warnLimited = rateLimited(log);
  const maxTransfers = opts.maxTransfers ?? 256;
  const retransmitMs = opts.retransmitMs ?? 1000;
  const maxRetries = opts.maxRetries ?? 5;
  const maxOackRetries = opts.maxOackRetries ?? 2;
  const listeners = new Map<string, Listener>();
  const active = new Map<string, Active>();
  const stats = { requests: 0, completed: 0, failed: 0, refused: 0, probes: 0, bytesSent: 0, retransmits: 0, dropped: 0 };
  let stopped = false;
  const workerCount = Math.max(0, Math.floor(opts.workers ?? Math.min(8, navigator.hardwareConcurrency || 1)));
  const pool: WorkerPool | undefined =
    workerCount > 0
      ? createWorkerPool(
          workerCount,
          transferWorkerUrl(),
          (why) => log.error("transfer worker stopped; its transfers failed", { error: why }),
          (message) => warnLimited("worker", "transfer worker trouble", { error: message }),
          { ...(opts.spin === undefined ? {} : { spin: opts.spin }), ...(opts.workerIdleMs === undefined ? {} : { idleMs: opts.workerIdleMs }) },
        )
      : undefined;

  async function bind(address: string): Promise<Listener> {
    const socket = await Bun.udpSocket({
      hostname: address,
      port: opts.port,
      binaryType: "uint8array",
      socket: {
        data: (_s, buf, port, from) => {
          try {
            onRequest(listener, buf, port, from);
          } catch (e) {
            // Never let one datagram take the server down.
            warnLimited(`crash:${from}`, "request handling failed", { client: `${from}:${port}`, error: e });
          }
        },
        // ICMP errors (port unreachable after a client left) arrive as socket errors: not fatal.
        error: (_s, e) => warnLimited(`error:${address}`, "socket error", { address, error: e }),
      },
    });
    const listener: Listener = { address, socket, maxBlksize: opts.maxBlksize ?? maxBlksizeFor(interfaceOf(address)) };
    return listener;
  }

  function drop(from: string, port: number, reason: string) {
    stats.dropped++;
    warnLimited(`drop:${from}`, "packet dropped", { client: `${from}:${port}`, reason });
  }

  /** The client's MAC in a log line, when the timeline knows whose address it is. */
  const macOf = (address: string): { mac?: string } => {
    const mac = opts.timeline?.macOf(address);
    return mac === undefined ? {} : { mac: macToString(mac) };
  };

  function refuse(l: Listener, port: number, from: string, code: number, message: string, file: string) {
    stats.refused++;
    l.socket.send(formatError(code, message), port, from);
    log.info("RRQ refused", { client: `${from}:${port}`, ...macOf(from), file, error: message });
    // A missing file is said by the outcome; only another refusal keeps its reason.
    const missing = code === ERROR_CODES.FILE_NOT_FOUND;
    opts.timeline?.recordFrom(from, Kind.Tftp, 0, missing ? TftpOutcome.NotFound : TftpOutcome.Refused, 0, file, missing ? "" : message);
  }

  function onRequest(l: Listener, buf: Uint8Array, port: number, from: string) {
    const op = opcodeOf(buf);
    if (op === "WRQ") {
      stats.refused++;
      l.socket.send(formatError(ERROR_CODES.ACCESS_VIOLATION, "write requests are not accepted"), port, from);
      log.info("WRQ refused", { client: `${from}:${port}` });
      return;
    }
    if (op !== "RRQ") return drop(from, port, op ? `unexpected ${op} on the request port` : `malformed ${buf.length}-byte packet`);
    let req;
    try {
      req = parsePacket(buf);
    } catch (e) {
      if (e instanceof TftpFormatError) return drop(from, port, e.message);
      throw e;
    }
    if (req.op !== "RRQ") return;
    const key = `${from}:${port}`;
    if (active.has(key)) return; // a retransmitted RRQ: the transfer is already answering it
    stats.requests++;
    if (req.mode !== "octet" && req.mode !== "netascii") {
      return refuse(l, port, from, ERROR_CODES.ILLEGAL_OPERATION, `unsupported mode ${JSON.stringify(req.mode)}`, req.filename);
    }
    const norm = normaliseRequestPath(req.filename);
    if (!norm.ok) return refuse(l, port, from, ERROR_CODES.ACCESS_VIOLATION, `refuse path ${JSON.stringify(req.filename)}: ${norm.reason}`, req.filename);
    if (active.size >= maxTransfers) return refuse(l, port, from, ERROR_CODES.NOT_DEFINED, "server busy", norm.path);
    const a: Active = { key, client: key, from, path: norm.path, session: undefined, started: performance.now(), cancelled: false };
    active.set(key, a);
    if (log.enabled("debug")) log.debug("RRQ", { client: key, ...macOf(from), file: norm.path, mode: req.mode, options: req.options.map(([k, v]) => `${k}=${v}`).join(",") });
    begin(l, a, from, port, norm.path, req.mode === "netascii", req.options).catch((e) => {
      log.error("transfer setup failed", { client: key, file: norm.path, error: e });
      cleanup(a);
    });
  }

  async function begin(l: Listener, a: Active, from: string, port: number, path: string, netascii: boolean, options: [string, string][]) {
    const facts: FileFacts = { protocol: "tftp", remoteAddress: from, serverAddress: l.address };
    let file;
    try {
      file = await opts.source.get(path, facts);
    } catch (e) {
      cleanup(a);
      if (stopped) return;
      if (e instanceof SocleError) {
        const code = e.type === "NotFound" ? ERROR_CODES.FILE_NOT_FOUND : e.type === "Forbidden" ? ERROR_CODES.ACCESS_VIOLATION : ERROR_CODES.NOT_DEFINED;
        return refuse(l, port, from, code, e.message, path);
      }
      throw e;
    }
    if (a.cancelled || stopped) return cleanup(a);
    if (!file) {
      cleanup(a);
      return refuse(l, port, from, ERROR_CODES.FILE_NOT_FOUND, `file ${JSON.stringify(path)} not found`, path);
    }
    const n = negotiate(options, netascii ? undefined : file.size, {
      ...DEFAULT_LIMITS,
      maxBlksize: l.maxBlksize,
      maxWindowsize: opts.maxWindowsize ?? DEFAULT_LIMITS.maxWindowsize,
    });
    if (n.refused.length > 0) log.debug("options refused", { client: a.client, ...macOf(from), file: path, refused: n.refused.join("; ") });

    const spec: SessionSpec = {
      localAddress: l.address,
      peerAddress: from,
      peerPort: port,
      blksize: n.blksize,
      windowsize: n.windowsize,
      oack: n.oack.length > 0 ? formatOack(n.oack) : undefined,
      timeoutMs: n.timeoutMs ?? retransmitMs,
      maxRetries,
      maxOackRetries,
      netascii,
    };
    const hooks: SessionHooks = {
      dropped: (reason) => drop(from, port, reason),
      socketError: (message) => warnLimited(`error:${a.client}`, "transfer socket error", { client: a.client, error: message }),
      finished: (o) => onFinished(a, o, n.blksize, n.windowsize),
    };
    let session: Promise<Session> | null = null;
    if (pool) {
      const content = await workerContent(file);
      if (a.cancelled || stopped) return cleanup(a);
      if (content) session = pool.start(spec, content, hooks);
    }
    a.session = await (session ?? startSession(spec, { kind: "stream", open: () => file.read() }, hooks));
    // Stopped while the socket was opening: end it now (a no-op when it has finished already).
    if (a.cancelled || stopped) a.session.abort("server shutting down", true);
  }

  /** What a worker can serve by itself, or undefined to run the transfer on this thread. */
  async function workerContent(file: BootFile): Promise<WorkerContent | undefined> {
    if (file.diskPath) return { kind: "disk", path: file.diskPath };
    if (file.size === undefined || file.size > INLINE_LIMIT) return undefined;
    try {
      return { kind: "bytes", bytes: new Uint8Array(await new Response(file.read()).arrayBuffer()) };
    } catch {
      return undefined; // the in-thread transfer meets the same failure and reports it to the client
    }
  }

  function onFinished(a: Active, o: TransferOutcome, blksize: number, windowsize: number) {
    stats.bytesSent += o.bytes;
    stats.retransmits += o.retransmits;
    const ms = Math.round(performance.now() - a.started);
    const fields = { client: a.client, ...macOf(a.from), file: a.path, bytes: o.bytes, ms, blksize, windowsize, retransmits: o.retransmits };
    if (o.ok) {
      stats.completed++;
      log.info("RRQ served", fields);
    } else if (o.probe) {
      stats.probes++;
      log.debug("RRQ ended after OACK (size probe)", { ...fields, reason: o.reason });
    } else {
      stats.failed++;
      log.info("RRQ failed", { ...fields, reason: o.reason });
    }
    const outcome = o.ok ? TftpOutcome.Served : o.probe ? TftpOutcome.Probe : TftpOutcome.Failed;
    opts.timeline?.recordFrom(a.from, Kind.Tftp, 0, outcome, o.bytes, a.path, o.ok ? "" : o.reason);
    cleanup(a);
  }

  function cleanup(a: Active) {
    a.cancelled = true;
    if (active.get(a.key) === a) active.delete(a.key);
  }

  // --- listening sockets

  const explicit = opts.listen !== undefined;
  const listed = opts.addresses ?? (() => localIpv4Addresses().map((x) => x.address));
  const wanted = () => [...new Set(explicit ? opts.listen : listed())];

  async function sync(initial: boolean) {
    const want = new Set(wanted());
    for (const [address, l] of listeners) {
      if (!want.has(address)) {
        l.socket.close();
        listeners.delete(address);
        log.info("stopped listening", { address, port: opts.port });
      }
    }
    for (const address of want) {
      if (listeners.has(address) || stopped) continue;
      try {
        const l = await bind(address);
        if (stopped) {
          l.socket.close();
          return;
        }
        listeners.set(address, l);
        log.info("listening", { address, port: l.socket.port, maxBlksize: l.maxBlksize });
      } catch (e) {
        const msg = `listen on ${address}:${opts.port} failed: ${e instanceof Error ? e.message : String(e)}`;
        if (initial && explicit) throw new SocleError("Unavailable", "tftp", `${address}:${opts.port}`, msg);
        log.warn(msg);
      }
    }
  }

  try {
    await sync(true);
    if (listeners.size === 0) throw new SocleError("Unavailable", "tftp", String(opts.port), `listen on port ${opts.port} failed: no address could be bound`);
  } catch (e) {
    for (const l of listeners.values()) l.socket.close();
    listeners.clear();
    throw e;
  }

  // One sync at a time (two at once would both bind a new address); a refresh asked for while
  // one runs waits for it and then reads the list again, since the list may have changed since.
  let syncing: Promise<void> = Promise.resolve();
  let polling = false;
  const resync = () => {
    const next = syncing.then(() => (stopped ? undefined : sync(false)));
    syncing = next.catch(() => undefined);
    return next;
  };
  const poll = explicit
    ? undefined
    : setInterval(() => {
        if (polling || stopped) return;
        polling = true;
        resync()
          .catch((e) => log.warn("interface re-read failed", { error: e }))
          .finally(() => (polling = false));
      }, opts.pollMs ?? 5000);
  poll?.unref?.();

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      if (poll) clearInterval(poll);
      for (const l of listeners.values()) l.socket.close();
      listeners.clear();
      for (const a of [...active.values()]) {
        if (a.session) a.session.abort("server shutting down", true);
        else a.cancelled = true; // still resolving its file or opening its socket
      }
      await pool?.close();
      for (const a of [...active.values()]) cleanup(a);
    },
    refresh: resync,
    stats(): TftpStats {
      return {
        listening: [...listeners.values()].map((l) => ({ address: l.address, port: l.socket.port })),
        active: active.size,
        ...stats,
      };
    },
  };
}
