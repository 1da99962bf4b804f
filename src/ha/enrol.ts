// Enrolment: how a second node joins a running first node and both end with certificates of the
// pair CA naming each other.
//
// On the first node an operator asks for a one-time secret (EnrolmentBook.issue): 32 random bytes
// in base32, valid ENROL_VALIDITY_MS, single use, kept only as its SHA-256, and the pin of the pair
// CA. Both go to the second node's operator, who runs joinPair with them. The joiner:
//  1. dials the first node's HA port without a certificate, and before sending anything checks
//     that the presented chain holds a CA with the pin and a node certificate that CA issued (a
//     wrong address or a man in the middle never sees the secret; the TLS handshake has already
//     proved the server holds the leaf's key);
//  2. sends {T:"Enrol", secret, nodeName, csrPem, lanAddress}: a CSR for a key it just made;
//  3. gets {T:"Enrolled", certPem, caPem, peerName, clusterId, vip, slot: 1}, checks the
//     certificate is for its key and name and that caPem carries the pin, and writes ha/, with
//     the first node's certificate from step 1 pinned in pair.json.
// The first node (enrolAnswerer, called by transport.ts's listener) checks the secret, signs the
// CSR's key for the requested name, and records the new peer in its own pair.json (slot 0), with
// the certificate it just issued pinned. From then on each node accepts only the pinned
// certificate of the other, so a re-enrolment (a new pair.json) retires the old keys.
// Private keys never cross the wire. Every refused attempt costs the source address one of
// ENROL_FAILURES_PER_WINDOW tries; the listener logs refusals, one line per source per minute.

import { createHash, createPrivateKey, randomBytes, randomUUID, timingSafeEqual, X509Certificate } from "node:crypto";
import { access } from "node:fs/promises";
import { isIP } from "node:net";
import { connect } from "node:tls";
import type { Logger } from "../log/logger.ts";
import { nullLogger } from "../log/logger.ts";
import { generateRsaKey, publicKeyPin } from "../pki/certs.ts";
import { CsrError, csrPublicKey } from "../pki/machine-certs.ts";
import { NODE_KEY_BITS, certFingerprint, issueNodeCert, makeNodeKeyAndCsr, nodeCertProblem, nodeNameOfCert, nodeNameProblem } from "../pki/node-certs.ts";
import { FrameReader, encodeFrame, type EnrolAnswer, type EnrolRequest, type Frame } from "./protocol.ts";
import { haPaths, readNodeCredentials, readPairState, writeNodeCredentials, writePairState, type PairState } from "./pair-state.ts";
import { ENROL_MAX_FRAME_BYTES, peerChain, plainAddress, type NodeCredentials } from "./transport.ts";

export const ENROL_VALIDITY_MS = 15 * 60 * 1000;
/** Refused attempts a source address may make per ENROL_FAILURE_WINDOW_MS before it is turned away unheard. */
export const ENROL_FAILURES_PER_WINDOW = 5;
export const ENROL_FAILURE_WINDOW_MS = 10 * 60 * 1000;
/** A used or expired secret is remembered this long, so its refusal can say which it was. */
const REMEMBER_MS = 24 * 3600 * 1000;
const MAX_REMEMBERED = 32;
const MAX_SOURCES = 4096;
/** A node certificate closer than this to its end is replaced at start. */
const NODE_RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
const JOIN_TIMEOUT_MS = 15_000;
const PIN_RE = /^sha256\/\/[A-Za-z0-9+/]{43}=$/;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32, upper case, without padding. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

/** A secret as typed: case, spaces, dashes and padding do not matter. */
function normalSecret(s: string): string {
  return s.toUpperCase().replace(/[\s=-]/g, "");
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();

export interface EnrolmentTicket {
  /** 32 random bytes, base32: shown once, never stored. */
  secret: string;
  /** ms since the epoch. */
  expiresAt: number;
  /** "sha256//<base64>" of the pair CA's public key, what joinPair checks the server against. */
  caPin: string;
}

interface Issued {
  hash: Buffer;
  expiresAt: number;
  usedAt?: number;
  usedBy?: string;
}

/** The first node's one-time enrolment secrets. In memory only: a restart forgets them all. */
export class EnrolmentBook {
  private readonly issued: Issued[] = [];
  private readonly failures = new Map<string, number[]>();
  readonly caPin: string;
  private readonly validityMs: number;

  constructor(opts: { caPem: string; validityMs?: number }) {
    this.caPin = publicKeyPin(opts.caPem);
    this.validityMs = opts.validityMs ?? ENROL_VALIDITY_MS;
  }

  issue(nowMs: number): EnrolmentTicket {
    this.prune(nowMs);
    const secret = base32(randomBytes(32));
    const expiresAt = nowMs + this.validityMs;
    this.issued.push({ hash: sha256(secret), expiresAt });
    return { secret, expiresAt, caPin: this.caPin };
  }

  /** Why `source` may not try now, or undefined. */
  admit(source: string, nowMs: number): string | undefined {
    const recent = (this.failures.get(source) ?? []).filter((t) => nowMs - t < ENROL_FAILURE_WINDOW_MS);
    if (recent.length < ENROL_FAILURES_PER_WINDOW) return undefined;
    const wait = Math.ceil((ENROL_FAILURE_WINDOW_MS - (nowMs - (recent[0] as number))) / 1000);
    return `too many refused enrolment attempts from ${source} (${recent.length} in ${ENROL_FAILURE_WINDOW_MS / 60000} minutes); try again in ${wait} s`;
  }

  /** Count a refused attempt against `source`. */
  fail(source: string, nowMs: number): void {
    if (!this.failures.has(source) && this.failures.size >= MAX_SOURCES) {
      for (const [k, ts] of this.failures) if (ts.every((t) => nowMs - t >= ENROL_FAILURE_WINDOW_MS)) this.failures.delete(k);
      if (this.failures.size >= MAX_SOURCES) this.failures.delete(this.failures.keys().next().value as string);
    }
    const recent = (this.failures.get(source) ?? []).filter((t) => nowMs - t < ENROL_FAILURE_WINDOW_MS);
    recent.push(nowMs);
    this.failures.set(source, recent);
  }

  /**
   * Spend `secret` for `source`: ok once, for an issued, unexpired, unused secret; anything else
   * is refused with the reason and counted against the source.
   */
  redeem(secret: string, source: string, nowMs: number): { ok: true } | { ok: false; reason: string } {
    const limited = this.admit(source, nowMs);
    if (limited) return { ok: false, reason: limited };
    const hash = sha256(normalSecret(secret));
    // Every entry is compared, in constant time each, whether or not one already matched.
    let hit: Issued | undefined;
    for (const e of this.issued) if (timingSafeEqual(e.hash, hash) && !hit) hit = e;
    let reason: string | undefined;
    if (!hit) reason = "the enrolment secret is not one this node issued (a typo, or it was issued before this node restarted); issue a new one";
    else if (hit.usedAt !== undefined) reason = `the enrolment secret was already used at ${new Date(hit.usedAt).toISOString()}; issue a new one`;
    else if (nowMs >= hit.expiresAt) reason = `the enrolment secret expired at ${new Date(hit.expiresAt).toISOString()} (valid ${Math.round(this.validityMs / 60000)} minutes); issue a new one`;
    if (reason || !hit) {
      this.fail(source, nowMs);
      return { ok: false, reason: reason as string };
    }
    hit.usedAt = nowMs;
    hit.usedBy = source;
    return { ok: true };
  }

  private prune(nowMs: number): void {
    for (let i = this.issued.length - 1; i >= 0; i--) {
      if (nowMs - (this.issued[i] as Issued).expiresAt > REMEMBER_MS) this.issued.splice(i, 1);
    }
    while (this.issued.length >= MAX_REMEMBERED) this.issued.shift();
  }
}

export interface EnrolAnswererOptions {
  book: EnrolmentBook;
  /** The pair CA, which signs the joiner's certificate. */
  ca: { certPem: string; keyPem: string };
  dataDir: string;
  /** This node's name: a joiner may not take it. */
  nodeName: string;
  /** The pair's VIP, "198.51.100.10/24". */
  vip: string;
  log: Logger;
  now?: () => number;
}

/**
 * The first node's side of enrolment, for listenHa's onEnrol. See the file comment. It logs the
 * enrolments it grants; refusals are answered only, and listenHa logs them rate-limited (a source
 * turned away by the rate limit must not cost a line per attempt).
 */
export function enrolAnswerer(opts: EnrolAnswererOptions): (req: EnrolRequest, remoteAddress: string) => Promise<EnrolAnswer> {
  const now = opts.now ?? Date.now;
  let writing: Promise<unknown> = Promise.resolve();
  return async (req, remoteAddress) => {
    const t = now();
    const source = plainAddress(remoteAddress);
    const refuse = (reason: string, count: boolean): EnrolAnswer => {
      if (count) opts.book.fail(source, t);
      return { T: "EnrolRefused", reason };
    };
    const limited = opts.book.admit(source, t);
    if (limited) return refuse(limited, false);
    const problem = nodeNameProblem(req.nodeName);
    if (problem) return refuse(`nodeName: ${problem}`, true);
    if (req.nodeName === opts.nodeName) return refuse(`nodeName "${req.nodeName}" is the answering node's own name; give the joining node another`, true);
    if (isIP(req.lanAddress) === 0) return refuse(`lanAddress ${JSON.stringify(req.lanAddress.slice(0, 60))} is not an IP address`, true);
    let spki: string;
    try {
      spki = csrPublicKey(req.csrPem);
    } catch (e) {
      if (e instanceof CsrError) return refuse(`csrPem: ${e.message}`, true);
      throw e;
    }
    const spent = opts.book.redeem(req.secret, source, t);
    if (!spent.ok) return refuse(spent.reason, false);
    const { certPem, serial } = issueNodeCert(spki, req.nodeName, opts.ca, new Date(t));
    // One pair.json write at a time: two secrets redeemed at once must not interleave.
    const record = async () => {
      const before = await readPairState(opts.dataDir);
      const state: PairState = {
        clusterId: before?.clusterId ?? randomUUID(),
        nodeName: opts.nodeName,
        slot: 0,
        peerName: req.nodeName,
        peerAddresses: [...new Set([req.lanAddress, source].filter((a) => isIP(a) !== 0))],
        vip: opts.vip,
        peerCertSha256: certFingerprint(certPem),
      };
      await writePairState(opts.dataDir, state);
      return state;
    };
    const done = writing.then(record, record);
    writing = done.catch(() => undefined);
    let state: PairState;
    try {
      state = await done;
    } catch (e) {
      // The secret is spent: the operator issues another once the cause is fixed.
      return refuse(`the answering node could not record the pair: ${(e as Error).message}; issue a new secret and try again`, false);
    }
    opts.log.info("HA node enrolled", { remote: source, node: req.nodeName, serial, cluster: state.clusterId });
    return { T: "Enrolled", certPem, caPem: opts.ca.certPem, peerName: opts.nodeName, clusterId: state.clusterId, vip: opts.vip, slot: 1 };
  };
}

/**
 * This node's credentials from ha/, made (or remade) when absent, for another name, not of this
 * CA, or within NODE_RENEW_BEFORE_MS of their end. For the node that issues certificates: it
 * holds the pair CA's key.
 */
export async function ensureNodeCredentials(opts: { dataDir: string; nodeName: string; ca: { certPem: string; keyPem: string }; log: Logger; now?: Date }): Promise<NodeCredentials> {
  const now = opts.now ?? new Date();
  const problem = nodeNameProblem(opts.nodeName);
  if (problem) throw new Error(`node name: ${problem}`);
  const ca = new X509Certificate(opts.ca.certPem);
  let why: string | undefined;
  let have: NodeCredentials | undefined;
  try {
    have = await readNodeCredentials(opts.dataDir);
  } catch (e) {
    why = (e as Error).message;
  }
  if (have) {
    const cert = new X509Certificate(have.certPem);
    if (have.nodeName !== opts.nodeName) why = `it names node "${have.nodeName}", not "${opts.nodeName}"`;
    else if (have.caPem.trim() !== opts.ca.certPem.trim()) why = "it is of another CA";
    else why = nodeCertProblem(cert, ca, "server", now) ?? (new Date(cert.validTo).getTime() - now.getTime() < NODE_RENEW_BEFORE_MS ? `it expires at ${cert.validTo}` : undefined);
    if (!why) return have;
  } else {
    why ??= "none yet";
  }
  const key = await generateRsaKey(NODE_KEY_BITS);
  const { certPem } = issueNodeCert(key.publicKeyPem, opts.nodeName, opts.ca, now);
  const creds = { certPem, keyPem: key.privateKeyPem, caPem: opts.ca.certPem, nodeName: opts.nodeName };
  await writeNodeCredentials(opts.dataDir, creds);
  opts.log.info(`created HA node certificate: ${why}`, { node: opts.nodeName, path: haPaths(opts.dataDir).cert });
  return creds;
}

export interface JoinOptions {
  /** The first node's HA address and port. */
  host: string;
  port: number;
  /** What the first node printed with the secret: "sha256//<base64>". */
  caPin: string;
  secret: string;
  /** This node's name in the pair. */
  nodeName: string;
  dataDir: string;
  /** This node's LAN address, sent to the first node as a path back. */
  lanAddress: string;
  timeoutMs?: number;
  log?: Logger;
}

/** The joining side of enrolment. See the file comment. Throws saying what failed; writes nothing then. */
export async function joinPair(opts: JoinOptions): Promise<PairState> {
  const log = opts.log ?? nullLogger;
  const problem = nodeNameProblem(opts.nodeName);
  if (problem) throw new Error(`join: nodeName ${problem}`);
  if (!PIN_RE.test(opts.caPin)) throw new Error(`join: caPin ${JSON.stringify(opts.caPin.slice(0, 80))} is not a pin like "sha256//<44 base64 characters>"`);
  if (normalSecret(opts.secret) === "") throw new Error("join: the enrolment secret is empty");
  if (isIP(opts.lanAddress) === 0) throw new Error(`join: lanAddress ${JSON.stringify(opts.lanAddress)} is not an IP address`);
  const paths = haPaths(opts.dataDir);
  if (await exists(paths.pair)) throw new Error(`join: this node is already enrolled ("${paths.pair}" exists); remove ${paths.dir} to enrol it again`);

  const { keyPem, csrPem } = await makeNodeKeyAndCsr(opts.nodeName);
  const where = `${opts.host}:${opts.port}`;
  const { answer, serverNode, serverCertSha256 } = await exchange(opts, where, { T: "Enrol", secret: opts.secret, nodeName: opts.nodeName, csrPem, lanAddress: opts.lanAddress });
  if (answer.T === "EnrolRefused") throw new Error(`join: ${where} refused the enrolment: ${answer.reason}`);

  const bad = (msg: string) => new Error(`join: the answer from ${where} is not usable: ${msg}`);
  for (const f of ["certPem", "caPem", "peerName", "clusterId", "vip"] as const) {
    if (typeof answer[f] !== "string") throw bad(`field ${f} is ${JSON.stringify(answer[f])?.slice(0, 40) ?? "missing"}, expected a string`);
  }
  if (answer.slot !== 1) throw bad(`field slot is ${JSON.stringify(answer.slot)}, expected 1`);
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(answer.certPem);
    ca = new X509Certificate(answer.caPem);
  } catch (e) {
    throw bad(`certPem or caPem is not a PEM certificate (${(e as Error).message})`);
  }
  if (publicKeyPin(answer.caPem) !== opts.caPin) throw bad("caPem is not the pinned CA");
  const certProblem = nodeCertProblem(cert, ca, "client");
  if (certProblem) throw bad(`the certificate is ${certProblem}`);
  if (nodeNameOfCert(cert) !== opts.nodeName) throw bad(`the certificate names node ${JSON.stringify(nodeNameOfCert(cert))}, not ${JSON.stringify(opts.nodeName)}`);
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw bad("the certificate is not for the key this node made");
  if (answer.peerName !== serverNode) throw bad(`peerName ${JSON.stringify(answer.peerName)} is not the node its certificate names (${JSON.stringify(serverNode)})`);

  const state: PairState = {
    clusterId: answer.clusterId,
    nodeName: opts.nodeName,
    slot: 1,
    peerName: answer.peerName,
    peerAddresses: isIP(opts.host) !== 0 ? [opts.host] : [],
    vip: answer.vip,
    // The certificate the first node proved it holds the key of, in the handshake checked against the CA pin.
    peerCertSha256: serverCertSha256,
  };
  try {
    await writeNodeCredentials(opts.dataDir, { certPem: answer.certPem, keyPem, caPem: answer.caPem });
    await writePairState(opts.dataDir, state); // last: its presence means "enrolled"
  } catch (e) {
    throw new Error(`join: enrolled by ${where}, but writing ${paths.dir} failed: ${(e as Error).message}; remove ${paths.dir} and enrol again with a new secret`);
  }
  log.info("joined HA pair", { peer: state.peerName, cluster: state.clusterId, vip: state.vip });
  return state;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Dial, check the pin before anything is sent, send `req`, and wait for the answer. */
type Exchanged = { answer: EnrolAnswer; serverNode: string; serverCertSha256: string };

function exchange(opts: JoinOptions, where: string, req: EnrolRequest): Promise<Exchanged> {
  const timeoutMs = opts.timeoutMs ?? JOIN_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, value?: Exchanged) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value as Exchanged);
    };
    const fail = (msg: string) => finish(new Error(`join: ${where}: ${msg}`));
    // No CA to verify against yet: the chain is checked by hand against the pin, below.
    const socket = connect({ host: opts.host, port: opts.port, rejectUnauthorized: false, minVersion: "TLSv1.3" });
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    socket.on("error", (e) => fail(e.message));
    socket.on("close", () => fail("the connection closed before an answer came"));
    socket.once("secureConnect", () => {
      const chain = peerChain(socket);
      const ca = chain.find((c) => c.ca && publicKeyPin(c.toString()) === opts.caPin);
      if (!ca) {
        const seen = chain.map((c) => publicKeyPin(c.toString()));
        return fail(`it did not present the pinned CA (it presented ${seen.length ? seen.join(", ") : "no certificate"}); check the address and the pin; the secret was not sent`);
      }
      const leaf = chain[0] as X509Certificate;
      const leafProblem = nodeCertProblem(leaf, ca, "server");
      if (leafProblem) return fail(`its certificate is ${leafProblem}; the secret was not sent`);
      const serverNode = nodeNameOfCert(leaf) as string;
      const serverCertSha256 = certFingerprint(leaf);
      const reader = new FrameReader({ maxFrameBytes: ENROL_MAX_FRAME_BYTES });
      socket.on("data", (chunk: Buffer) => {
        let frames: Frame[];
        try {
          frames = reader.push(chunk);
        } catch (e) {
          return fail(`protocol error: ${(e as Error).message}`);
        }
        for (const f of frames) {
          if (f.header.T === "Unauthenticated") continue; // the listener's greeting to a node without a certificate
          if (f.header.T === "Enrolled" || f.header.T === "EnrolRefused") {
            if (f.header.T === "EnrolRefused" && typeof f.header.reason !== "string") return fail("EnrolRefused without a reason");
            return finish(undefined, { answer: f.header as unknown as EnrolAnswer, serverNode, serverCertSha256 });
          }
          return fail(`expected Enrolled or EnrolRefused, got ${f.header.T.slice(0, 40)}`);
        }
      });
      socket.write(encodeFrame(req as unknown as Frame["header"], undefined, ENROL_MAX_FRAME_BYTES));
    });
  });
}
