// What a node knows about its pair, kept in <data-dir>/ha/ (never replicated: each node has its
// own):
//   pair.json      {clusterId, nodeName, slot, peerName, peerAddresses, vip, peerCertSha256};
//                  its presence means "enrolled", so it is written last. peerCertSha256 pins the
//                  partner's certificate (pki/node-certs.ts certFingerprint); a pair.json from
//                  before pinning lacks it and is still read (the peer is then known by name only)
//   node-key.pem   this node's private key (0600); made here, never sent anywhere
//   node.pem       this node's certificate, issued by the pair CA
//   ca.pem         the pair CA's certificate, the one issuer a peer's certificate may have
// Every file is replaced atomically (files/atomic-write.ts), the key before its certificate.
//
// Slot 0 is the node that answered the enrolment, slot 1 the one that joined. Slots never change
// with roles: they decide who dials (slot 1) and who listens, so the two never race to connect.

import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { writeFileAtomic } from "../files/atomic-write.ts";
import { SocleError } from "../model/errors.ts";
import { certFingerprintProblem, nodeNameOfCert, nodeNameProblem } from "../pki/node-certs.ts";
import type { NodeCredentials } from "./transport.ts";

export interface PairState {
  /** Random at the first enrolment; both nodes carry the same one. */
  clusterId: string;
  nodeName: string;
  slot: 0 | 1;
  peerName: string;
  /** Where the peer was last known to listen (peer link, LAN). */
  peerAddresses: string[];
  /** The pair's virtual address with its prefix length, "198.51.100.10/24". */
  vip: string;
  /**
   * SHA-256 of the partner's certificate (DER), recorded at enrolment: the only certificate the
   * partner may present. Absent in a pair.json written before pinning.
   */
  peerCertSha256?: string;
}

export const HA_DIR = "ha";

export function haPaths(dataDir: string): { dir: string; pair: string; cert: string; key: string; ca: string } {
  const dir = join(dataDir, HA_DIR);
  return { dir, pair: join(dir, "pair.json"), cert: join(dir, "node.pem"), key: join(dir, "node-key.pem"), ca: join(dir, "ca.pem") };
}

const haError = (key: string, msg: string) => new SocleError("ValidationError", "ha", key, msg);

/** `v` as a PairState, or a ValidationError naming the field, its value and `source`. */
export function checkPairState(v: unknown, source: string): PairState {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw haError(source, `${source}: expected a JSON object`);
  const o = v as Record<string, unknown>;
  const bad = (field: string, want: string) => haError(source, `${source}: field ${field} is ${JSON.stringify(o[field])?.slice(0, 80) ?? "missing"}, expected ${want}`);
  if (typeof o.clusterId !== "string" || !/^[A-Za-z0-9-]{1,64}$/.test(o.clusterId)) throw bad("clusterId", "an identifier (letters, digits, dashes)");
  for (const f of ["nodeName", "peerName"] as const) {
    const problem = nodeNameProblem(o[f]);
    if (problem) throw haError(source, `${source}: field ${f}: ${problem}`);
  }
  if (o.nodeName === o.peerName) throw bad("peerName", "a name other than nodeName");
  if (o.slot !== 0 && o.slot !== 1) throw bad("slot", "0 or 1");
  if (!Array.isArray(o.peerAddresses) || o.peerAddresses.some((a) => typeof a !== "string" || isIP(a) === 0)) throw bad("peerAddresses", "a list of IP addresses");
  if (typeof o.vip !== "string" || !isVip(o.vip)) throw bad("vip", 'an IPv4 address with a prefix length, like "198.51.100.10/24"');
  if (o.peerCertSha256 !== undefined) {
    const problem = certFingerprintProblem(o.peerCertSha256);
    if (problem) throw haError(source, `${source}: field peerCertSha256: ${problem}`);
  }
  return {
    clusterId: o.clusterId,
    nodeName: o.nodeName as string,
    slot: o.slot,
    peerName: o.peerName as string,
    peerAddresses: [...(o.peerAddresses as string[])],
    vip: o.vip,
    ...(o.peerCertSha256 !== undefined ? { peerCertSha256: o.peerCertSha256 as string } : {}),
  };
}

function isVip(s: string): boolean {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  return !!m && isIP(m[1] as string) === 4 && Number(m[2]) >= 1 && Number(m[2]) <= 32;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw haError(path, `read "${path}": ${(e as Error).message}`);
  }
}

/** The pair this node belongs to, or undefined when it is not enrolled. */
export async function readPairState(dataDir: string): Promise<PairState | undefined> {
  const path = haPaths(dataDir).pair;
  const text = await readIfExists(path);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw haError(path, `read "${path}": not JSON (${(e as Error).message})`);
  }
  return checkPairState(json, path);
}

export async function writePairState(dataDir: string, state: PairState): Promise<void> {
  const { dir, pair } = haPaths(dataDir);
  const checked = checkPairState(state, "pair state");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(pair, `${JSON.stringify(checked, null, 1)}\n`, 0o644);
}

/**
 * This node's certificate, key and pair CA, or undefined when none was written yet. A partial
 * set, a key that does not match, or a certificate that names no node is an error naming the file.
 */
export async function readNodeCredentials(dataDir: string): Promise<NodeCredentials | undefined> {
  const p = haPaths(dataDir);
  const [certPem, keyPem, caPem] = await Promise.all([readIfExists(p.cert), readIfExists(p.key), readIfExists(p.ca)]);
  if (certPem === undefined && keyPem === undefined && caPem === undefined) return undefined;
  const missing = ([[certPem, p.cert], [keyPem, p.key], [caPem, p.ca]] as const).filter(([v]) => v === undefined).map(([, path]) => `"${path}"`);
  if (missing.length > 0) throw haError(p.dir, `load node credentials: ${missing.join(" and ")} missing; enrol this node again`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem as string);
    new X509Certificate(caPem as string);
  } catch (e) {
    throw haError(p.cert, `load node credentials: "${p.cert}" or "${p.ca}" is not a PEM certificate (${(e as Error).message})`);
  }
  let matches = false;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem as string));
  } catch {
    matches = false;
  }
  if (!matches) throw haError(p.key, `load node credentials: key "${p.key}" does not match certificate "${p.cert}"`);
  const nodeName = nodeNameOfCert(cert);
  if (!nodeName) throw haError(p.cert, `load node credentials: "${p.cert}" names no HA node`);
  return { certPem: certPem as string, keyPem: keyPem as string, caPem: caPem as string, nodeName };
}

/** Write this node's key, the pair CA and its certificate, in that order. */
export async function writeNodeCredentials(dataDir: string, creds: { certPem: string; keyPem: string; caPem: string }): Promise<void> {
  const p = haPaths(dataDir);
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(p.key, creds.keyPem, 0o600);
  await writeFileAtomic(p.ca, creds.caPem, 0o644);
  await writeFileAtomic(p.cert, creds.certPem, 0o644);
}
