// The HA pair's connection: mutual TLS over TCP, framed by protocol.ts.
//
// Both nodes present a node certificate of the pair CA (pki/node-certs.ts). A node accepts the
// other only when the chain verifies against the pair CA, the certificate's URI SAN names the
// enrolled peer AND the certificate is the very one pinned at enrolment (its SHA-256, from
// pair.json): host names are no help here (the nodes reach each other over a peer link, the LAN or
// the VIP), so node:tls's host name check is replaced by those checks. A pair.json written before
// pinning has no pin; its peer is accepted by name, with one warning per listener. node:tls on
// both sides: Bun.connect's TLS did not enforce chain verification in some versions, and the
// listener needs getPeerCertificate(), which only node:tls gives under Bun.
//
// The listener requests a certificate without requiring one (rejectUnauthorized: false), because a
// node being enrolled has none yet. Each connection is judged once the handshake is done:
// - the enrolled peer gets {T:"Welcome", node} and is handed to onConnection;
// - anyone else gets {T:"Unauthenticated", reason} and may send exactly one Enrol frame (at most
//   ENROL_MAX_FRAME_BYTES, within PROBATION_MS), which is answered, then the connection is closed;
//   any other frame closes it with one rate-limited log line.
// The dialler waits for that first frame, so a refusal surfaces as a failed dial that says why,
// not as a connection that dies at its first message.
//
// The port listens on every address by default, so anyone may open connections to it. Until a
// connection is authenticated it holds one of MAX_UNAUTHENTICATED places, and one of
// MAX_UNAUTHENTICATED_PER_SOURCE for its source address (an IPv6 /64); past either it is destroyed
// at accept. It has HANDSHAKE_TIMEOUT_MS for the TLS handshake, then PROBATION_MS for its frame.
// The enrolled peer leaves the count once its certificate is judged, and its known addresses
// (pair.json, --ha-peer, those it has connected from) are not turned away by the total: a flood
// from elsewhere cannot lock the partner out. Every refusal goes through one rate-limited log.
//
// Writes are queued per connection: the socket takes frames while it accepts them, the rest wait
// for 'drain'. bufferedBytes counts both, so a sender (the feeder) can stop producing; urgent
// frames (heartbeats) go ahead of queued ones, so a backlog of file chunks does not make a live
// peer look dead.

import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { connect, createServer, type TLSSocket } from "node:tls";
import type { Logger } from "../log/logger.ts";
import { canonicalIp, ipToBytes } from "../pki/ip-bytes.ts";
import { certFingerprint, certFingerprintProblem, nodeCertProblem, nodeNameOfCert } from "../pki/node-certs.ts";
import { FrameError, FrameReader, encodeFrame, parseEnrolRequest, type EnrolAnswer, type EnrolRequest, type Frame, type HaMessage } from "./protocol.ts";

export interface NodeCredentials {
  /** This node's certificate (leaf), PEM. */
  certPem: string;
  keyPem: string;
  /** The pair CA's certificate, PEM: the only issuer a peer's certificate may have. */
  caPem: string;
  nodeName: string;
}

export interface HaConnection {
  readonly peerName: string;
  readonly remoteAddress: string;
  /**
   * Queue a frame; false once the connection is closing or closed. Never throws: a frame that
   * cannot be encoded (over the size limit, no T) closes the connection with that reason, since a
   * silently lost frame would leave the stream out of step. `urgent`: ahead of queued frames.
   */
  send(msg: HaMessage, body?: Uint8Array, opts?: { urgent?: boolean }): boolean;
  /** Bytes queued or written but not yet flushed to the socket. */
  readonly bufferedBytes: number;
  /** Messages received, in order; those that arrive before the first handler are kept for it. */
  onMessage(fn: (msg: HaMessage, body: Uint8Array | undefined) => void): void;
  /** Called exactly once, with why the connection ended (also when it ended before the call). */
  onClose(fn: (reason: string) => void): void;
  /** Flush what is queued, then close. */
  close(reason?: string): void;
}

export interface HaListener {
  port: number;
  /**
   * The peer whose certificate is accepted from now on (null: none, only enrolment), and the
   * SHA-256 of that certificate (pair.json's peerCertSha256); without one, any certificate of the
   * pair CA naming the peer is accepted, with a warning.
   */
  setPeerName(name: string | null, certSha256?: string): void;
  /** Connections accepted and not yet authenticated (in the TLS handshake or on probation). */
  readonly unauthenticated: number;
  close(): Promise<void>;
}

export interface ListenHaOptions {
  host: string;
  port: number;
  creds: NodeCredentials;
  /** The enrolled peer, null while unpaired. An answered enrolment replaces it with the new node. */
  peerName: string | null;
  /** SHA-256 of the peer's certificate (pair.json's peerCertSha256); absent in a pair.json from before pinning. */
  peerCertSha256?: string | undefined;
  /** Where the peer is known to connect from (pair.json, --ha-peer): never turned away by the total limit. */
  peerAddresses?: string[];
  onConnection(conn: HaConnection): void;
  /** Answers an Enrol frame from a node without a certificate of the pair; absent: enrolment refused. */
  onEnrol?(req: EnrolRequest, remoteAddress: string): Promise<EnrolAnswer>;
  log: Logger;
}

export interface DialHaOptions {
  host: string;
  port: number;
  creds: NodeCredentials;
  /** The enrolled peer: the only node name accepted in the listener's certificate. */
  peerName: string;
  /** SHA-256 of the only certificate the listener may present (pair.json's peerCertSha256); absent: name only. */
  peerCertSha256?: string | undefined;
  /** Connect, handshake and the listener's verdict, all within this; default DIAL_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Where a listener refused on its certificate is reported, one line per address per minute. */
  log?: Logger;
}

export const DIAL_TIMEOUT_MS = 5000;
/**
 * How long an unauthenticated connection may take to send its Enrol frame: the joiner made its key
 * and CSR before dialling, so the frame follows the handshake at once.
 */
export const PROBATION_MS = 3000;
/** The largest frame taken before authentication: an Enrol frame is a few kB. */
export const ENROL_MAX_FRAME_BYTES = 64 * 1024;
/** A TLS handshake that has not finished by then is dropped (one RSA-2048 handshake takes milliseconds). */
export const HANDSHAKE_TIMEOUT_MS = 3000;
/** Connections not yet authenticated, in all; one more is destroyed at accept. */
export const MAX_UNAUTHENTICATED = 64;
/** Connections not yet authenticated from one source (an IPv4 address or an IPv6 /64). */
export const MAX_UNAUTHENTICATED_PER_SOURCE = 4;
/** Addresses remembered as the peer's from its authenticated connections. */
const MAX_LEARNT_ADDRESSES = 16;
/** TCP keepalive probes start after this much silence (heartbeats normally fill it). */
const KEEPALIVE_DELAY_MS = 5000;
/** A close() whose queue has not drained by then destroys the socket. */
const CLOSE_FLUSH_MS = 2000;
/** One log line per source address per this long; the others are counted. */
export const REFUSAL_LOG_MS = 60_000;
/** Sources the refusal log tells apart within REFUSAL_LOG_MS; beyond, they share one line. */
const REFUSAL_LOG_SOURCES = 1024;

/** "::ffff:198.51.100.2" (an IPv4 peer on a dual-stack socket) as "198.51.100.2". */
export function plainAddress(a: string | undefined): string {
  if (!a) return "";
  return a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a;
}

/** The presented chain, leaf first, as node:tls reports it. */
export function peerChain(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  let c = socket.getPeerCertificate(true) as (ReturnType<TLSSocket["getPeerCertificate"]> & { issuerCertificate?: unknown }) | undefined;
  const seen = new Set<unknown>();
  while (c?.raw && !seen.has(c) && out.length < 8) {
    seen.add(c);
    try {
      out.push(new X509Certificate(c.raw));
    } catch {
      break;
    }
    c = c.issuerCertificate as typeof c;
  }
  return out;
}

/**
 * The node at the other end if it is `want` with the certificate pinned as `pin`, else why not.
 * `use`: what the peer's certificate must be good for.
 */
function judgePeer(socket: TLSSocket, ca: X509Certificate, want: string | null, pin: string | undefined, use: "server" | "client"): { node: string } | { reason: string } {
  if (!socket.authorized) {
    const err = socket.authorizationError;
    return { reason: `no certificate of the pair CA (${err instanceof Error ? err.message : String(err ?? "none presented")})` };
  }
  const leaf = peerChain(socket)[0];
  if (!leaf) return { reason: "no certificate presented" };
  const problem = nodeCertProblem(leaf, ca, use);
  if (problem) return { reason: `certificate ${problem}` };
  const node = nodeNameOfCert(leaf) as string;
  if (want === null) return { reason: `certificate names node ${JSON.stringify(node)}, but this node has no enrolled peer` };
  if (node !== want) return { reason: `certificate names node ${JSON.stringify(node)}, not the enrolled peer` };
  if (pin !== undefined) {
    const got = certFingerprint(leaf);
    if (got !== pin) {
      return {
        reason: `certificate of node ${JSON.stringify(node)} is not the one pinned at enrolment (sha256 ${got}, pinned ${pin}): an old or copied key, or the node was enrolled again; if it is the partner, enrol the pair again`,
      };
    }
  }
  return { node };
}

/** Where the per-source limit counts a connection from: the address, or its /64 for IPv6 (one host holds a whole /64). */
export function sourceOf(address: string): string {
  const b = ipToBytes(address);
  if (!b || b.length === 4) return address;
  const words: string[] = [];
  for (let i = 0; i < 8; i += 2) words.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
  return `${words.join(":")}::/64`;
}

/**
 * Places for connections not yet authenticated: `limits.total` in all, `limits.perSource` per
 * sourceOf(address). A place is held from accept until released (authenticated, or closed).
 */
export class AdmissionGate {
  #total = 0;
  readonly #perSource = new Map<string, number>();
  constructor(readonly limits: { total: number; perSource: number } = { total: MAX_UNAUTHENTICATED, perSource: MAX_UNAUTHENTICATED_PER_SOURCE }) {}

  get count(): number {
    return this.#total;
  }

  /**
   * A place for a connection from `address`, or why there is none and which limit said so.
   * `known`: an address of the enrolled peer, held to the per-source limit only.
   */
  admit(address: string, known: boolean): { release: () => void } | { refused: string; limit: "source" | "total" } {
    const source = sourceOf(address);
    const n = this.#perSource.get(source) ?? 0;
    if (n >= this.limits.perSource) return { refused: `${n} unauthenticated connections from ${source} are open (the limit per source)`, limit: "source" };
    if (!known && this.#total >= this.limits.total) return { refused: `${this.#total} unauthenticated connections are open (the limit)`, limit: "total" };
    this.#perSource.set(source, n + 1);
    this.#total++;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.#total--;
        const left = (this.#perSource.get(source) ?? 1) - 1;
        if (left > 0) this.#perSource.set(source, left);
        else this.#perSource.delete(source);
      },
    };
  }
}

/** An address as compared against the peer's known ones ("::FFFF:..." and long IPv6 spellings folded). */
const addressKey = (a: string) => canonicalIp(plainAddress(a)) ?? a;

class Connection implements HaConnection {
  readonly peerName: string;
  readonly remoteAddress: string;
  private readonly socket: TLSSocket;
  private readonly reader: FrameReader;
  private readonly urgentQueue: Uint8Array[] = [];
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private inflightBytes = 0;
  private blocked = false;
  private closing = false;
  private closed = false;
  private reason: string | undefined;
  private readonly messageFns: Array<(msg: HaMessage, body: Uint8Array | undefined) => void> = [];
  private readonly closeFns: Array<(reason: string) => void> = [];
  private early: Frame[] = [];
  private draining = false;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: TLSSocket, peerName: string, reader: FrameReader, pending: Frame[]) {
    this.socket = socket;
    this.peerName = peerName;
    this.remoteAddress = plainAddress(socket.remoteAddress);
    this.reader = reader;
    this.early = pending;
    socket.on("data", (chunk: Buffer) => this.received(chunk));
    socket.on("drain", () => {
      this.blocked = false;
      this.pump();
    });
    socket.on("end", () => this.note("peer closed the connection"));
    socket.on("error", (e) => this.note(`socket error: ${e.message}`));
    socket.on("close", () => this.finish());
    if (socket.destroyed) queueMicrotask(() => this.finish());
  }

  get bufferedBytes(): number {
    return this.queuedBytes + this.inflightBytes;
  }

  send(msg: HaMessage, body?: Uint8Array, opts?: { urgent?: boolean }): boolean {
    if (this.closing || this.closed) return false;
    let frame: Uint8Array;
    try {
      frame = encodeFrame(msg, body, this.reader.maxFrameBytes);
    } catch (e) {
      this.close(`send: ${(e as Error).message}`);
      return false;
    }
    (opts?.urgent ? this.urgentQueue : this.queue).push(frame);
    this.queuedBytes += frame.length;
    this.pump();
    return true;
  }

  onMessage(fn: (msg: HaMessage, body: Uint8Array | undefined) => void): void {
    this.messageFns.push(fn);
    if (this.messageFns.length === 1 && this.early.length > 0) {
      // Delivered after the caller has finished registering, in arrival order; frames that
      // arrive meanwhile queue behind them.
      this.draining = true;
      queueMicrotask(() => {
        this.draining = false;
        const early = this.early;
        this.early = [];
        this.deliver(early);
      });
    }
  }

  onClose(fn: (reason: string) => void): void {
    if (this.closed) {
      const reason = this.reason ?? "connection closed";
      queueMicrotask(() => fn(reason));
      return;
    }
    this.closeFns.push(fn);
  }

  close(reason = "closed by this node"): void {
    if (this.closing || this.closed) return;
    this.note(reason);
    this.closing = true;
    this.pump();
    this.flushTimer = setTimeout(() => this.socket.destroy(), CLOSE_FLUSH_MS);
  }

  /** Remember the first reason the connection ends for. */
  private note(reason: string): void {
    this.reason ??= reason;
  }

  private pump(): void {
    while (!this.blocked && !this.closed) {
      const frame = this.urgentQueue.shift() ?? this.queue.shift();
      if (!frame) break;
      this.queuedBytes -= frame.length;
      this.inflightBytes += frame.length;
      const ok = this.socket.write(frame, () => {
        this.inflightBytes -= frame.length;
      });
      if (!ok) this.blocked = true;
    }
    if (this.closing && this.queuedBytes === 0 && !this.socket.writableEnded) this.socket.end();
  }

  private received(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.note(`protocol error from ${this.peerName}: ${(e as FrameError).message}`);
      this.socket.destroy();
      return;
    }
    if (this.messageFns.length === 0 || this.draining) this.early.push(...frames);
    else this.deliver(frames);
  }

  private deliver(frames: Frame[]): void {
    for (const f of frames) {
      if (this.closing || this.closed) return;
      for (const fn of this.messageFns) {
        try {
          fn(f.header, f.body);
        } catch (e) {
          this.close(`message handler failed on ${f.header.T}: ${(e as Error).message}`);
          return;
        }
      }
    }
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.flushTimer);
    this.urgentQueue.length = 0;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.inflightBytes = 0;
    this.early = [];
    const reason = this.reason ?? "connection closed";
    for (const fn of this.closeFns.splice(0)) {
      try {
        fn(reason);
      } catch {
        // One failing listener must not keep the others from hearing of the close.
      }
    }
  }
}

/**
 * One warn line per key (a source address, unless the caller groups) per REFUSAL_LOG_MS; the
 * refusals held back are counted in the key's next line. Past REFUSAL_LOG_SOURCES keys in one
 * window the newcomers share a line, so a flood from many addresses costs a bounded log.
 */
export class RefusalLog {
  readonly #last = new Map<string, { at: number; held: number }>();
  constructor(
    private readonly log: Logger,
    private readonly msg = "HA connection refused",
    private readonly now: () => number = Date.now,
  ) {}

  refused(remote: string, kind: string, fields: Record<string, unknown>, key: string = remote): void {
    const now = this.now();
    if (!this.#last.has(key) && this.#last.size >= REFUSAL_LOG_SOURCES) {
      for (const [k, e] of this.#last) if (now - e.at >= REFUSAL_LOG_MS) this.#last.delete(k);
      if (this.#last.size >= REFUSAL_LOG_SOURCES) key = "many sources";
    }
    const e = this.#last.get(key);
    if (e && now - e.at < REFUSAL_LOG_MS) {
      e.held++;
      return;
    }
    this.#last.set(key, { at: now, held: 0 });
    this.log.warn(this.msg, { remote, kind, ...fields, ...(e?.held ? { alsoRefusedSinceLastLine: e.held } : {}) });
  }
}

/** dialHa's refusal logs, one per logger, so that dials repeated every second share a rate limit. */
const dialRefusals = new WeakMap<Logger, RefusalLog>();

/** Answer and close; a client that keeps its side open is cut off after CLOSE_FLUSH_MS. */
function writeAndEnd(socket: TLSSocket, msg: HaMessage): void {
  try {
    socket.end(encodeFrame(msg, undefined, ENROL_MAX_FRAME_BYTES));
  } catch {
    socket.destroy();
    return;
  }
  const t = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS);
  socket.on("close", () => clearTimeout(t));
}

export async function listenHa(opts: ListenHaOptions): Promise<HaListener> {
  const { creds, log } = opts;
  const ca = new X509Certificate(creds.caPem);
  let peer = opts.peerName;
  let peerPin: string | undefined;
  const refusals = new RefusalLog(log);
  const gate = new AdmissionGate();
  /** Each accepted socket until it closes, with its place in the gate and its handshake timer. */
  const sockets = new Map<TLSSocket, { release: () => void; handshake: ReturnType<typeof setTimeout> }>();
  /** Sockets whose refusal is logged already: the tlsClientError their destruction raises is not news. */
  const told = new WeakSet<TLSSocket>();
  const configured = new Set((opts.peerAddresses ?? []).map(addressKey));
  const learnt = new Set<string>();
  const isPeerAddress = (a: string) => configured.has(addressKey(a)) || learnt.has(addressKey(a));
  const learn = (a: string) => {
    if (isIP(a) === 0) return;
    learnt.delete(addressKey(a));
    learnt.add(addressKey(a));
    if (learnt.size > MAX_LEARNT_ADDRESSES) learnt.delete(learnt.values().next().value as string);
  };
  let warnedUnpinned = false;
  const setPeer = (name: string | null, pin: string | undefined) => {
    if (pin !== undefined) {
      const problem = certFingerprintProblem(pin);
      if (problem) throw new Error(`HA listener: peer certificate pin: ${problem}`);
    }
    if (name !== peer) learnt.clear();
    peer = name;
    peerPin = name === null ? undefined : pin;
    if (peer !== null && peerPin === undefined && !warnedUnpinned) {
      warnedUnpinned = true;
      log.warn("the HA partner's certificate is not pinned (pair.json is from before pinning): any certificate of the pair CA naming it is accepted, an old or copied one too; enrol the pair again to pin it", { peer });
    }
  };
  setPeer(opts.peerName, opts.peerCertSha256 ?? undefined);

  const server = createServer(
    {
      // The CA after the leaf: a joining node has no CA yet and checks the CA's pin in this chain.
      cert: `${creds.certPem.trim()}\n${creds.caPem.trim()}\n`,
      key: creds.keyPem,
      ca: [creds.caPem],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.3",
      // No handshakeTimeout: under Bun it reports through tlsClientError and leaves the socket
      // open. The timer set at accept below is the one that counts.
    },
    (socket) => {
      const held = sockets.get(socket);
      if (!held) {
        // Bun hands this callback the socket 'connection' saw; one that never went through the
        // gate is refused rather than let past the limits.
        log.error("HA listener: a TLS connection arrived that was not counted at accept; closing it", { remote: plainAddress(socket.remoteAddress) });
        socket.destroy();
        return;
      }
      clearTimeout(held.handshake);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
      const verdict = judgePeer(socket, ca, peer, peerPin, "client");
      if ("node" in verdict) {
        held.release();
        learn(plainAddress(socket.remoteAddress));
        const conn = new Connection(socket, verdict.node, new FrameReader(), []);
        conn.send({ T: "Welcome", node: creds.nodeName });
        opts.onConnection(conn);
        return;
      }
      probation(socket, verdict.reason);
    },
  );

  server.on("connection", (socket: TLSSocket) => {
    const remote = plainAddress(socket.remoteAddress);
    socket.on("error", () => {}); // tlsClientError, the probation or the Connection says what happened
    const place = gate.admit(remote, isPeerAddress(remote));
    if ("refused" in place) {
      told.add(socket);
      // Past the total, many sources at once are one flood: one line for all of them.
      refusals.refused(remote, "limit", { reason: place.refused }, place.limit === "total" ? "limit:total" : remote);
      socket.destroy();
      return;
    }
    const handshake = setTimeout(() => {
      told.add(socket);
      refusals.refused(remote, "handshake", { error: `no TLS handshake within ${HANDSHAKE_TIMEOUT_MS} ms` });
      socket.destroy();
    }, HANDSHAKE_TIMEOUT_MS);
    sockets.set(socket, { release: place.release, handshake });
    socket.on("close", () => {
      clearTimeout(handshake);
      place.release();
      sockets.delete(socket);
    });
  });

  /** An unauthenticated connection: one Enrol frame, or nothing. */
  const probation = (socket: TLSSocket, why: string) => {
    const remote = plainAddress(socket.remoteAddress);
    // A certificate that is not the peer's is worth a line at once: it is a node set up wrongly
    // (another pair, a stale name, an old key), and dialHa leaves without sending anything on
    // this answer.
    if (peerChain(socket).length > 0) refusals.refused(remote, "certificate", { reason: why });
    const reader = new FrameReader({ maxFrameBytes: ENROL_MAX_FRAME_BYTES });
    const timer = setTimeout(() => {
      refusals.refused(remote, "timeout", { reason: why, error: `no frame within ${PROBATION_MS} ms` });
      socket.destroy();
    }, PROBATION_MS);
    socket.on("close", () => clearTimeout(timer));
    const enrolRefused = (reason: string, node?: string) => {
      refusals.refused(remote, "enrol", { ...(node !== undefined ? { node: node.slice(0, 80) } : {}), reason });
      writeAndEnd(socket, { T: "EnrolRefused", reason });
    };
    const onData = (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        refusals.refused(remote, "frame", { reason: why, error: (e as FrameError).message });
        socket.destroy();
        return;
      }
      const first = frames[0];
      if (!first) return;
      // Exactly one frame is looked at; anything after it is never read.
      socket.off("data", onData);
      socket.pause();
      clearTimeout(timer);
      if (first.header.T !== "Enrol") {
        refusals.refused(remote, "message", { reason: why, sent: first.header.T.slice(0, 40) });
        socket.destroy();
        return;
      }
      if (!opts.onEnrol) return enrolRefused("this node does not take enrolments now");
      const req = parseEnrolRequest(first.header);
      if ("problem" in req) return enrolRefused(req.problem);
      void opts.onEnrol(req, remote).then(
        (answer) => {
          if (answer.T !== "Enrolled") return enrolRefused(answer.reason, req.nodeName);
          let pin: string;
          try {
            pin = certFingerprint(answer.certPem);
          } catch (e) {
            // Not pinned means not accepted: the joiner fails to connect and is enrolled again.
            log.error("enrolment answered with a certificate this node cannot read; the new peer is not accepted", { remote, node: req.nodeName, error: (e as Error).message });
            return writeAndEnd(socket, { T: "EnrolRefused", reason: "the answering node issued a certificate it cannot read" });
          }
          setPeer(req.nodeName, pin);
          learn(remote);
          learn(req.lanAddress);
          writeAndEnd(socket, answer as unknown as HaMessage);
        },
        (e) => {
          log.error("enrolment failed", { remote, node: req.nodeName, error: (e as Error).message });
          writeAndEnd(socket, { T: "EnrolRefused", reason: `the answering node failed: ${(e as Error).message}` });
        },
      );
    };
    socket.on("data", onData);
    // Says why before any frame, so a node that expected to be known learns it at once.
    socket.write(encodeFrame({ T: "Unauthenticated", reason: why }));
  };

  server.on("tlsClientError", (err, socket) => {
    if (!told.has(socket)) refusals.refused(plainAddress(socket.remoteAddress), "handshake", { error: err.message });
    told.add(socket);
    // Under Bun a handshake timeout reports here and leaves the socket open.
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (e) => log.error("HA listener failed", { error: e.message }));
  const addr = server.address();
  let closing: Promise<void> | undefined;
  return {
    port: typeof addr === "object" && addr ? addr.port : opts.port,
    setPeerName(name, certSha256) {
      setPeer(name, certSha256);
    },
    get unauthenticated() {
      return gate.count;
    },
    close() {
      // Idempotent: a second call gets the first one's promise (server.close on a closed server
      // never calls back under Bun).
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets.keys()) s.destroy();
      });
      return closing;
    },
  };
}

/** Dial the peer's listener; resolves once both sides have accepted each other. */
export function dialHa(opts: DialHaOptions): Promise<HaConnection> {
  const { creds, peerName } = opts;
  const where = `HA peer ${peerName} at ${opts.host}:${opts.port}`;
  const timeoutMs = opts.timeoutMs ?? DIAL_TIMEOUT_MS;
  return new Promise<HaConnection>((resolve, reject) => {
    let ca: X509Certificate;
    try {
      ca = new X509Certificate(creds.caPem);
    } catch (e) {
      reject(new Error(`dial ${where}: the pair CA certificate is not readable (${(e as Error).message})`));
      return;
    }
    const pin = opts.peerCertSha256 ?? undefined;
    const pinProblem = pin === undefined ? undefined : certFingerprintProblem(pin);
    if (pinProblem) {
      reject(new Error(`dial ${where}: peer certificate pin: ${pinProblem}`));
      return;
    }
    const { log } = opts;
    let refusals: RefusalLog | undefined;
    if (log) {
      refusals = dialRefusals.get(log) ?? new RefusalLog(log, "HA peer refused");
      dialRefusals.set(log, refusals);
    }
    const address = `${opts.host}:${opts.port}`;
    let settled = false;
    const fail = (msg: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`dial ${where}: ${msg}`));
    };
    const socket = connect({
      host: opts.host,
      port: opts.port,
      cert: creds.certPem,
      key: creds.keyPem,
      ca: [creds.caPem],
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      // Instead of a host name check: the certificate must name the enrolled peer.
      checkServerIdentity: (_host, cert) => {
        const node = cert.raw ? nodeNameOfCert(new X509Certificate(cert.raw)) : undefined;
        return node === peerName ? undefined : new Error(`its certificate names node ${JSON.stringify(node ?? null)}, not the enrolled peer ${JSON.stringify(peerName)}`);
      },
    });
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    const onError = (e: Error) => fail(e.message);
    const onClose = () => fail("the connection closed before the peer accepted this node");
    socket.on("error", onError);
    socket.on("close", onClose);
    const reader = new FrameReader();
    socket.once("secureConnect", () => {
      // Checked again here, whatever the TLS stack did with the options above.
      const verdict = judgePeer(socket, ca, peerName, pin, "server");
      if ("reason" in verdict) {
        refusals?.refused(address, "certificate", { peer: peerName, reason: verdict.reason });
        return fail(verdict.reason);
      }
      const onData = (chunk: Buffer) => {
        let frames: Frame[];
        try {
          frames = reader.push(chunk);
        } catch (e) {
          return fail(`protocol error: ${(e as FrameError).message}`);
        }
        const first = frames[0];
        if (!first) return;
        socket.off("data", onData);
        if (first.header.T === "Unauthenticated") {
          const why = String(first.header.reason).slice(0, 400);
          refusals?.refused(address, "refused-by-peer", { peer: peerName, reason: `the peer did not accept this node: ${why}` });
          return fail(`the peer did not accept this node: ${why}`);
        }
        if (first.header.T !== "Welcome") return fail(`expected Welcome, got ${first.header.T}`);
        if (first.header.node !== peerName) return fail(`the peer says it is ${JSON.stringify(first.header.node)}`);
        settled = true;
        clearTimeout(timer);
        socket.off("error", onError);
        socket.off("close", onClose);
        resolve(new Connection(socket, peerName, reader, frames.slice(1)));
      };
      socket.on("data", onData);
    });
  });
}
