// Key generation and X.509 building. Keys come from node:crypto's native, asynchronous RSA key
// generation (node-forge's pure-JS keygen takes seconds and blocks the event loop); node-forge
// only builds and signs the certificates (SHA-256 with RSA, which iPXE verifies).

import { X509Certificate, createHash, generateKeyPair, randomBytes } from "node:crypto";
import type forge from "node-forge";
import { nodeForge } from "./forge.ts";
import { ipToBytes } from "./ip-bytes.ts";
import type { SubjectNames } from "./subject-names.ts";

export const CA_KEY_BITS = 3072;
export const SERVER_KEY_BITS = 2048;
export const CA_VALIDITY_DAYS = 3650;
/** The longest lifetime browsers and Apple clients accept for a server certificate. */
export const SERVER_VALIDITY_DAYS = 825;
/** Certificates start a day early: machines booting with a slow or unset RTC still accept them. */
const BACKDATE_MS = 24 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

export interface KeyPairPem {
  privateKeyPem: string; // PKCS#8
  publicKeyPem: string; // SPKI
}

export function generateRsaKey(bits: number): Promise<KeyPairPem> {
  return new Promise((resolve, reject) => {
    generateKeyPair(
      "rsa",
      {
        modulusLength: bits,
        publicExponent: 0x10001,
        publicKeyEncoding: { type: "spki", format: "pem" },
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
      },
      (err, publicKeyPem, privateKeyPem) => (err ? reject(err) : resolve({ privateKeyPem, publicKeyPem })),
    );
  });
}

/** 128 random bits, positive (top bit clear) and non-zero, as hex for forge. */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x01; // |1 keeps the first byte non-zero, so DER needs no padding
  return b.toString("hex");
}

function baseCert(publicKeyPem: string, validityDays: number, now: Date): forge.pki.Certificate {
  const forge = nodeForge();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = randomSerial();
  // The lifetime is counted from notBefore: clients that cap it (825 days) measure it that way.
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() - BACKDATE_MS + validityDays * DAY_MS);
  return cert;
}

/** A self-signed CA certificate, PEM. */
export function buildCaCert(key: KeyPairPem, commonName: string, now: Date = new Date()): string {
  const forge = nodeForge();
  const cert = baseCert(key.publicKeyPem, CA_VALIDITY_DAYS, now);
  const subject = [
    { name: "commonName", value: commonName },
    { name: "organizationName", value: "Socle" },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    // pathLenConstraint 0: this CA signs leaf certificates only.
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(key.privateKeyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** A server certificate for `names`, signed by the CA, PEM. */
export function buildServerCert(
  key: KeyPairPem,
  names: SubjectNames,
  ca: { certPem: string; keyPem: string },
  now: Date = new Date(),
): string {
  const forge = nodeForge();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const cert = baseCert(key.publicKeyPem, SERVER_VALIDITY_DAYS, now);
  // CN is ignored by modern clients when SANs exist, but older ones (and iPXE) may read it; it is
  // limited to 64 characters.
  const cn = names.dns.find((d) => d !== "localhost" && !d.startsWith("*.") && d.length <= 64) ?? "localhost";
  cert.setSubject([
    { name: "commonName", value: cn },
    { name: "organizationName", value: "Socle" },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [
    ...names.dns.map((d) => ({ type: 2, value: d })),
    ...names.ips.map((ip) => ({ type: 7, value: Buffer.from(ipToBytes(ip) ?? []).toString("binary") })),
  ];
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/**
 * The last certificate of a PEM chain when it is a self-signed root (subject = issuer, signed by
 * its own key), else "": what a client must trust for an operator's own --tls-cert when no CA file
 * comes with it. A chain that ends below a root leaves the client to its system's trust store.
 */
export function selfSignedRoot(chainPem: string): string {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const last = blocks.at(-1);
  if (!last) return "";
  try {
    const x = new X509Certificate(last);
    return x.subject === x.issuer && x.verify(x.publicKey) ? `${last}\n` : "";
  } catch {
    return "";
  }
}

/**
 * curl's `--pinnedpubkey` form of a certificate's public key: "sha256//" + base64 of the SHA-256
 * of its DER SubjectPublicKeyInfo (the first certificate of a PEM chain).
 */
export function publicKeyPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return `sha256//${createHash("sha256").update(spki).digest("base64")}`;
}
