// The certificates the two nodes of an HA pair present to each other, issued by the pair's CA.
//
// A node certificate names its node once, in a URI SAN "urn:socle:ha-node:<name>", and that is
// the only name a peer checks: the nodes reach each other over a peer link, the LAN or a VIP, so
// no host name or address in the certificate would hold on every path. EKU serverAuth and
// clientAuth both, since either node may dial. The key is made by the node that holds it (a CSR
// crosses the wire at enrolment, never a private key).
//
// Chain and name are not enough on their own: a node certificate is good for NODE_VALIDITY_DAYS
// and there is no revocation between two nodes, so an old key (a decommissioned disk, a backup, a
// name enrolled again) would still pass. Each node therefore pins its partner's exact certificate
// at enrolment (certFingerprint, kept in pair.json) and accepts no other.

import { createHash, X509Certificate } from "node:crypto";
import type forge from "node-forge";
import { nodeForge } from "./forge.ts";
import { generateRsaKey, randomSerial } from "./certs.ts";
import { normalSerial } from "./machine-certs.ts";

export const NODE_URI_PREFIX = "urn:socle:ha-node:";
/** A node name: a host-name-like label, what the URI SAN and pair.json carry. */
export const NODE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;
export const NODE_KEY_BITS = 2048;
export const NODE_VALIDITY_DAYS = 825;
const SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";
const BACKDATE_MS = 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

/** Why `name` is not a node name, or undefined when it is one. */
export function nodeNameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return `expected a string, got ${name === null ? "null" : typeof name}`;
  if (!NODE_NAME_RE.test(name)) return `${JSON.stringify(name.slice(0, 80))} is not a node name (1 to 63 letters, digits, dots and dashes, starting with a letter or digit)`;
  return undefined;
}

/**
 * A node certificate for `nodeName` over `publicKeyPem` (SPKI), signed by the pair CA. Returns the
 * PEM, its serial (normalSerial form) and its end.
 */
export function issueNodeCert(
  publicKeyPem: string,
  nodeName: string,
  ca: { certPem: string; keyPem: string },
  now: Date = new Date(),
): { certPem: string; serial: string; notAfter: Date } {
  const problem = nodeNameProblem(nodeName);
  if (problem) throw new Error(`issue node certificate: node name ${problem}`);
  const forge = nodeForge();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() - BACKDATE_MS + NODE_VALIDITY_DAYS * DAY_MS);
  cert.setSubject([
    { name: "commonName", value: nodeName },
    { name: "organizationName", value: "Socle" },
    { name: "organizationalUnitName", value: "ha-nodes" },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: true },
    { name: "subjectAltName", altNames: [{ type: 6, value: `${NODE_URI_PREFIX}${nodeName}` }] },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), serial: normalSerial(cert.serialNumber), notAfter: cert.validity.notAfter };
}

/** The node a certificate's URI SAN names, or undefined (none, two, or not a node name). */
export function nodeNameOfCert(cert: X509Certificate): string | undefined {
  const names = (cert.subjectAltName ?? "")
    .split(", ")
    .filter((e) => e.startsWith(`URI:${NODE_URI_PREFIX}`))
    .map((e) => e.slice(4 + NODE_URI_PREFIX.length));
  // Two identities in one certificate is not one of ours.
  if (names.length !== 1) return undefined;
  return nodeNameProblem(names[0]) ? undefined : names[0];
}

/**
 * Why `cert` is not a node certificate of `ca` for the use given at `now` ("server": the dialled
 * node, "client": the dialling one), or undefined when it is one. The signature is checked too:
 * a TLS stack that skipped the chain check (a Bun client once did) is not relied upon.
 */
export function nodeCertProblem(cert: X509Certificate, ca: X509Certificate, use: "server" | "client", now: Date = new Date()): string | undefined {
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return `not issued by the pair CA (issuer ${cert.issuer.replace(/\n/g, ", ")})`;
  if (new Date(cert.validFrom).getTime() > now.getTime()) return `not valid before ${cert.validFrom}`;
  if (new Date(cert.validTo).getTime() <= now.getTime()) return `expired at ${cert.validTo}`;
  const oid = use === "server" ? SERVER_AUTH_OID : CLIENT_AUTH_OID;
  if (!(cert.keyUsage ?? []).includes(oid)) return `not a ${use} certificate (no ${use}Auth usage)`;
  if (!nodeNameOfCert(cert)) return `names no HA node (no single ${NODE_URI_PREFIX} URI)`;
  return undefined;
}

/** A certificate's SHA-256 fingerprint over its DER bytes, 64 lower-case hex digits: what pair.json pins. */
export function certFingerprint(cert: X509Certificate | string): string {
  const x = typeof cert === "string" ? new X509Certificate(cert) : cert;
  return createHash("sha256").update(x.raw).digest("hex");
}

/** Why `v` is not a certificate fingerprint as certFingerprint writes it, or undefined. */
export function certFingerprintProblem(v: unknown): string | undefined {
  if (typeof v !== "string") return `expected a string, got ${v === null ? "null" : typeof v}`;
  if (!/^[0-9a-f]{64}$/.test(v)) return `${JSON.stringify(v.slice(0, 80))} is not a SHA-256 fingerprint (64 lower-case hex digits)`;
  return undefined;
}

/** A new key for node `nodeName` and a PKCS#10 request for it, signed by that key. */
export async function makeNodeKeyAndCsr(nodeName: string): Promise<{ keyPem: string; csrPem: string }> {
  const problem = nodeNameProblem(nodeName);
  if (problem) throw new Error(`make node key: node name ${problem}`);
  const key = await generateRsaKey(NODE_KEY_BITS);
  const forge = nodeForge();
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(key.publicKeyPem);
  csr.setSubject([{ name: "commonName", value: nodeName }]);
  csr.sign(forge.pki.privateKeyFromPem(key.privateKeyPem), forge.md.sha256.create());
  return { keyPem: key.privateKeyPem, csrPem: forge.pki.certificationRequestToPem(csr) };
}
