// Socle's own PKI: a CA made at first start, and a server certificate it signs for every name
// this host answers to. Machines (iPXE, installers, agents) are given the CA certificate; the
// server certificate can then be replaced freely (new address, near expiry) without touching
// them. The CA is never replaced automatically: that would break every client that trusts it.
//
// Files in <dir>: ca.pem, ca-key.pem (0600), server.pem, server-key.pem (0600). Each is written
// atomically, key before certificate, so a crash between the two is detected at the next start
// (a key without its certificate) and repaired.

import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { CA_KEY_BITS, SERVER_KEY_BITS, buildCaCert, buildServerCert, generateRsaKey, type KeyPairPem } from "./certs.ts";
import { missingNames, parseSubjectAltName, subjectNames, type NameSources, type SubjectNames } from "./subject-names.ts";
import { writeFileAtomic } from "../files/atomic-write.ts";

/** A server certificate closer than this to its end is replaced. */
export const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 24 * 3600 * 1000;

export interface PkiOptions {
  /** Extra DNS names for the server certificate (--tls-hostname). */
  hostnames?: string[];
  /** Extra IP addresses for the server certificate. */
  addresses?: string[];
  log: Logger;
  /** Clock, for tests. */
  now?: Date;
  /** Host name and interfaces, for tests; defaults to os.hostname() and os.networkInterfaces(). */
  sources?: NameSources;
  /**
   * Renew a server certificate whose names or dates are wrong with the key it has, keeping its
   * old names beside the wanted ones. The HA pair needs this: both nodes serve one certificate,
   * installers pin its key (it.ApiPin), and each node's host name and addresses differ.
   */
  keepKey?: boolean;
}

export interface PkiFiles {
  caCertPem: string;
  /** The CA's key: it signs machine certificates and the CRL (machine-ca.ts). */
  caKeyPem: string;
  certPem: string;
  keyPem: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  /** true when this call generated the CA or the server certificate. */
  created: boolean;
}

const pkiError = (path: string, msg: string) => new SocleError("ValidationError", "pki", path, msg);

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw pkiError(path, `read "${path}": ${(e as Error).message}`);
  }
}

function parseCert(pem: string, path: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw pkiError(path, `parse ${what} "${path}": not a PEM certificate (${(e as Error).message})`);
  }
}

function parseKey(pem: string, path: string, what: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw pkiError(path, `parse ${what} "${path}": not a PEM private key (${(e as Error).message})`);
  }
}

function keyMatches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

/** Create or reuse the CA and the server certificate in `dir`. See the file comment. */
export async function ensurePki(dir: string, opts: PkiOptions): Promise<PkiFiles> {
  const log = opts.log;
  const now = opts.now ?? new Date();
  const names = subjectNames(opts.hostnames, opts.addresses, opts.sources);
  for (const why of names.skipped) log.warn(`server certificate name skipped: ${why}`);

  const caPath = join(dir, "ca.pem");
  const caKeyPath = join(dir, "ca-key.pem");
  const certPath = join(dir, "server.pem");
  const keyPath = join(dir, "server-key.pem");
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw pkiError(dir, `create PKI directory "${dir}": ${(e as Error).message}`);
  }
  let created = false;

  // The CA.
  let caCertPem = await readIfExists(caPath);
  let caKeyPem = await readIfExists(caKeyPath);
  if (caCertPem === undefined) {
    // No CA certificate means no client can trust this CA yet; a lone ca-key.pem is the remains
    // of an interrupted first start and is replaced.
    const key = await generateRsaKey(CA_KEY_BITS);
    caKeyPem = key.privateKeyPem;
    caCertPem = buildCaCert(key, `Socle CA ${names.dns.find((d) => d !== "localhost") ?? "localhost"}`, now);
    await writeFileAtomic(caKeyPath, caKeyPem, 0o600);
    await writeFileAtomic(caPath, caCertPem, 0o644);
    created = true;
    log.info("created certificate authority", { path: caPath, expires: new X509Certificate(caCertPem).validTo });
  } else {
    if (caKeyPem === undefined) {
      throw pkiError(
        caKeyPath,
        `load CA: "${caKeyPath}" is missing while "${caPath}" exists; restore the key, or remove "${caPath}" to make a new CA (clients must then trust the new one)`,
      );
    }
    const caCert = parseCert(caCertPem, caPath, "CA certificate");
    const caKey = parseKey(caKeyPem, caKeyPath, "CA key");
    if (!keyMatches(caCert, caKey)) {
      throw pkiError(caKeyPath, `load CA: key "${caKeyPath}" does not match certificate "${caPath}"`);
    }
    if (!caCert.ca) throw pkiError(caPath, `load CA: "${caPath}" is not a CA certificate`);
    const caEnd = new Date(caCert.validTo);
    if (caEnd.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) {
      log.warn("certificate authority expires soon; it is not renewed automatically", { path: caPath, expires: caCert.validTo });
    }
  }
  const caX509 = new X509Certificate(caCertPem);

  // The server certificate.
  let certPem = await readIfExists(certPath);
  let keyPem = await readIfExists(keyPath);
  const why = created
    ? "new certificate authority"
    : certPem === undefined || keyPem === undefined
      ? "no server certificate yet"
      : staleness(certPem, keyPem, caX509, names, now, certPath, keyPath);
  if (why) {
    const kept = opts.keepKey && !created ? reusableKey(certPem, keyPem, caX509) : undefined;
    const key = kept?.key ?? (await generateRsaKey(SERVER_KEY_BITS));
    const signed = kept ? { dns: [...new Set([...names.dns, ...kept.names.dns])], ips: [...new Set([...names.ips, ...kept.names.ips])] } : names;
    keyPem = key.privateKeyPem;
    certPem = buildServerCert(key, signed, { certPem: caCertPem, keyPem: caKeyPem }, now);
    await writeFileAtomic(keyPath, keyPem, 0o600);
    await writeFileAtomic(certPath, certPem, 0o644);
    created = true;
    log.info(`created server certificate${kept ? " with the key it had" : ""}: ${why}`, { path: certPath, names: [...signed.dns, ...signed.ips].length });
  }
  return { caCertPem, caKeyPem: caKeyPem as string, certPem: certPem as string, keyPem: keyPem as string, caPath, certPath, keyPath, created };
}

/** The server key and the names of its certificate, when the key is sound and the CA signed it. */
function reusableKey(certPem: string | undefined, keyPem: string | undefined, ca: X509Certificate): { key: KeyPairPem; names: SubjectNames } | undefined {
  if (certPem === undefined || keyPem === undefined) return undefined;
  try {
    const cert = new X509Certificate(certPem);
    const key = createPrivateKey(keyPem);
    if (!keyMatches(cert, key) || !cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return undefined;
    const publicKeyPem = createPublicKey(key).export({ type: "spki", format: "pem" }).toString();
    return { key: { privateKeyPem: keyPem, publicKeyPem }, names: parseSubjectAltName(cert.subjectAltName) };
  } catch {
    return undefined;
  }
}

/** Why the existing server certificate must be replaced, or undefined if it is fine. */
function staleness(
  certPem: string,
  keyPem: string,
  ca: X509Certificate,
  want: ReturnType<typeof subjectNames>,
  now: Date,
  certPath: string,
  keyPath: string,
): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return `"${certPath}" is not a readable certificate`;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    return `"${keyPath}" is not a readable key`;
  }
  if (!keyMatches(cert, key)) return `key "${keyPath}" does not match "${certPath}"`;
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return "it is not signed by the current CA";
  const end = new Date(cert.validTo);
  if (end.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) {
    return `it expires at ${end.toISOString()}, within ${RENEW_BEFORE_DAYS} days`;
  }
  if (new Date(cert.validFrom).getTime() > now.getTime()) {
    return `it is not valid before ${new Date(cert.validFrom).toISOString()}`;
  }
  const missing = missingNames(want, parseSubjectAltName(cert.subjectAltName));
  if (missing.length > 0) return `its names lack ${missing.join(", ")}`;
  return undefined;
}

/**
 * Load an operator-supplied certificate and key (--tls-cert/--tls-key). The certificate file may
 * hold a chain (leaf first). Throws ValidationError naming the file at fault.
 */
export async function loadTlsFiles(
  certPath: string,
  keyPath: string,
  opts: { log?: Logger; now?: Date } = {},
): Promise<{ certPem: string; keyPem: string; certPath: string; keyPath: string }> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path, "utf8");
    } catch (e) {
      throw pkiError(path, `read ${what} "${path}": ${(e as Error).message}`);
    }
  };
  const certPem = await read(certPath, "TLS certificate");
  const keyPem = await read(keyPath, "TLS key");
  const cert = parseCert(certPem, certPath, "TLS certificate");
  const key = parseKey(keyPem, keyPath, "TLS key");
  if (!keyMatches(cert, key)) {
    throw pkiError(keyPath, `load TLS key "${keyPath}": it does not match the certificate "${certPath}"`);
  }
  const now = opts.now ?? new Date();
  if (new Date(cert.validTo).getTime() <= now.getTime()) {
    opts.log?.warn("TLS certificate has expired; clients will refuse it", { path: certPath, expired: cert.validTo });
  }
  return { certPem, keyPem, certPath, keyPath };
}
