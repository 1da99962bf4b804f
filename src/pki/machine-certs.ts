// The X.509 side of per-machine identity: a machine's client certificate, the CSR an agent sends,
// and the CRL. Pure functions over PEM and DER; machine-ca.ts keeps the record and the policy.
//
// A machine certificate names the machine twice, and the API trusts only the first:
// - URI SAN "urn:uuid:<Uuid>" (RFC 4122's URN form): the identity. A Uuid never changes and is
//   never reused, while a Name may be renamed or taken by another machine later.
// - DNS SAN "<Name>", when the Name is a DNS name, and CN "<Name>" (at most 64 characters, else
//   the Uuid): for people and for TLS peers that look for a host name.
// EKU clientAuth only: the certificate cannot serve TLS as a server. 90 days, renewable at any
// time by a new CSR (the agent renews at half-life).
//
// CRL (RFC 5280 section 5): node-forge builds and reads certificates but has no CRL writer, so the
// CertificateList is written here with forge's ASN.1 encoder and signed with node:crypto.

import { X509Certificate, createPublicKey, sign as cryptoSign } from "node:crypto";
import type forge from "node-forge";
import { nodeForge } from "./forge.ts";
import { randomSerial, type KeyPairPem } from "./certs.ts";
import { isDnsName } from "./subject-names.ts";

export const MACHINE_KEY_BITS = 2048;
export const MACHINE_VALIDITY_DAYS = 90;
/** Smallest and largest RSA key a CSR may carry. */
export const CSR_MIN_BITS = 2048;
export const CSR_MAX_BITS = 8192;
/** Largest CSR accepted, PEM characters (a 8192-bit request is about 3.5 kB). */
export const CSR_MAX_CHARS = 16 * 1024;
/** Hours until a CRL's nextUpdate; it is re-signed on every revocation and before it runs out. */
export const CRL_VALIDITY_HOURS = 7 * 24;
const BACKDATE_MS = 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;
const URN_UUID = /^urn:uuid:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export interface MachineIdentity {
  Uuid: string;
  Name: string;
}

/**
 * A serial as the record spells it: lower-case hex of its bytes, no leading zero byte (what
 * `openssl crl -text` prints, in upper case), whichever way the source spelt it.
 */
export function normalSerial(hex: string): string {
  const bare = hex.toLowerCase().replace(/^0+(?=.)/, "");
  return bare.length % 2 ? `0${bare}` : bare;
}

/** The SANs and subject of a machine's certificate (see the file comment). */
export function machineNames(m: MachineIdentity): { cn: string; uri: string; dns: string | undefined } {
  const uuid = m.Uuid.toLowerCase();
  const name = m.Name.toLowerCase();
  return {
    cn: m.Name && m.Name.length <= 64 ? m.Name : uuid,
    uri: `urn:uuid:${uuid}`,
    dns: name && isDnsName(name) ? name : undefined,
  };
}

/**
 * A client certificate for machine `m` over `publicKeyPem` (SPKI, RSA), signed by the CA. Returns
 * the PEM and its serial (normalSerial form).
 */
export function buildMachineCert(
  publicKeyPem: string,
  m: MachineIdentity,
  ca: { certPem: string; keyPem: string },
  now: Date = new Date(),
): { certPem: string; serial: string; notAfter: Date } {
  const forge = nodeForge();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const names = machineNames(m);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() - BACKDATE_MS + MACHINE_VALIDITY_DAYS * DAY_MS);
  cert.setSubject([
    { name: "commonName", value: names.cn },
    { name: "organizationName", value: "Socle" },
    { name: "organizationalUnitName", value: "machines" },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames: Array<{ type: number; value: string }> = [{ type: 6, value: names.uri }];
  if (names.dns) altNames.push({ type: 2, value: names.dns });
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", clientAuth: true },
    { name: "subjectAltName", altNames },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), serial: normalSerial(cert.serialNumber), notAfter: cert.validity.notAfter };
}

/** The machine Uuid of a certificate's URI SAN "urn:uuid:...", or undefined. */
export function uuidOfCert(cert: X509Certificate): string | undefined {
  const uuids = (cert.subjectAltName ?? "")
    .split(", ")
    .filter((e) => e.startsWith("URI:"))
    .map((e) => URN_UUID.exec(e.slice(4).toLowerCase())?.[1])
    .filter((u): u is string => u !== undefined);
  // Two identities in one certificate is not one of ours.
  return uuids.length === 1 ? uuids[0] : undefined;
}

export class CsrError extends Error {}

/**
 * The public key (SPKI PEM) of a PEM certificate signing request, after checking its signature
 * (the sender holds the private key) and its key (RSA, CSR_MIN_BITS..CSR_MAX_BITS). Its subject and
 * extensions are ignored: a machine certificate's names come from the server's record. Throws
 * CsrError saying what is wrong.
 */
export function csrPublicKey(pem: string): string {
  if (pem.length > CSR_MAX_CHARS) throw new CsrError(`the request is ${pem.length} characters, more than ${CSR_MAX_CHARS}`);
  const block = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----[\s\S]+?-----END (NEW )?CERTIFICATE REQUEST-----/.exec(pem)?.[0];
  if (!block) throw new CsrError("expected a PEM block \"-----BEGIN CERTIFICATE REQUEST-----\"");
  const forge = nodeForge();
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(block);
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    throw new CsrError(/OID is not RSA/i.test(msg) ? "its key is not RSA (this CA signs RSA keys of 2048 to 8192 bits)" : `not a readable PKCS#10 request (${msg})`);
  }
  // The key's size and exponent before its signature: verifying in JS with a huge modulus or
  // exponent would hold the server's thread for minutes.
  const claimed = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!claimed?.n || !claimed.e) throw new CsrError("it carries no RSA public key");
  const claimedBits = claimed.n.bitLength();
  if (claimedBits < CSR_MIN_BITS || claimedBits > CSR_MAX_BITS) throw new CsrError(`its RSA key has ${claimedBits} bits; from ${CSR_MIN_BITS} to ${CSR_MAX_BITS} are accepted`);
  if (claimed.e.toString(10) !== "65537") throw new CsrError("its RSA public exponent is not 65537 (what openssl and every library make)");
  let ok = false;
  try {
    ok = csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw new CsrError("its signature does not verify with its own key (a request must be signed by the key it carries)");
  const key = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!key) throw new CsrError("it carries no public key");
  const bits = key.n.bitLength();
  if (bits < CSR_MIN_BITS || bits > CSR_MAX_BITS) throw new CsrError(`its RSA key has ${bits} bits; from ${CSR_MIN_BITS} to ${CSR_MAX_BITS} are accepted`);
  const spki = forge.pki.publicKeyToPem(key);
  createPublicKey(spki); // node must read it too
  return spki;
}

export interface CrlEntry {
  serial: string;
  revokedAt: Date;
  /** RFC 5280 CRLReason: 4 superseded, 5 cessationOfOperation, 1 keyCompromise. */
  reason: number;
}

function derTime(d: Date): forge.asn1.Asn1 {
  const { asn1 } = nodeForge();
  const { Type: T, Class: C } = asn1;
  // RFC 5280 5.1.2.4: UTCTime through 2049, GeneralizedTime after.
  return d.getUTCFullYear() < 2050
    ? asn1.create(C.UNIVERSAL, T.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(C.UNIVERSAL, T.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));
}

function derInteger(hex: string): forge.asn1.Asn1 {
  const forge = nodeForge();
  const { asn1 } = forge;
  const { Type: T, Class: C } = asn1;
  let h = hex.length % 2 ? `0${hex}` : hex;
  if (parseInt(h.slice(0, 2), 16) >= 0x80) h = `00${h}`; // positive
  return asn1.create(C.UNIVERSAL, T.INTEGER, false, forge.util.hexToBytes(h));
}

function extension(oid: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  const { asn1 } = nodeForge();
  const { Type: T, Class: C } = asn1;
  return asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [
    asn1.create(C.UNIVERSAL, T.OID, false, asn1.oidToDer(oid).getBytes()),
    asn1.create(C.UNIVERSAL, T.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  ]);
}

/** A v2 CRL of `entries`, signed by the CA (sha256WithRSAEncryption), as DER. */
export function buildCrl(
  entries: readonly CrlEntry[],
  ca: { certPem: string; keyPem: string },
  crlNumber: number,
  now: Date = new Date(),
): Buffer {
  const forge = nodeForge();
  const { asn1 } = forge;
  const { Type: T, Class: C } = asn1;
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const sigAlg = asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [
    asn1.create(C.UNIVERSAL, T.OID, false, asn1.oidToDer(forge.pki.oids.sha256WithRSAEncryption!).getBytes()),
    asn1.create(C.UNIVERSAL, T.NULL, false, ""),
  ]);
  const revoked = entries.map((e) =>
    asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [
      derInteger(e.serial),
      derTime(e.revokedAt),
      asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [
        extension("2.5.29.21", asn1.create(C.UNIVERSAL, T.ENUMERATED, false, String.fromCharCode(e.reason))),
      ]),
    ]),
  );
  const aki = asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [
    asn1.create(C.CONTEXT_SPECIFIC, 0, false, caCert.generateSubjectKeyIdentifier().getBytes()),
  ]);
  const tbs = asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [
    asn1.create(C.UNIVERSAL, T.INTEGER, false, String.fromCharCode(1)), // v2
    sigAlg,
    forge.pki.distinguishedNameToAsn1(caCert.subject),
    derTime(new Date(now.getTime() - BACKDATE_MS)),
    derTime(new Date(now.getTime() + CRL_VALIDITY_HOURS * 3600 * 1000)),
    ...(revoked.length > 0 ? [asn1.create(C.UNIVERSAL, T.SEQUENCE, true, revoked)] : []),
    asn1.create(C.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [
        extension("2.5.29.35", aki),
        extension("2.5.29.20", derInteger(crlNumber.toString(16))),
      ]),
    ]),
  ]);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), "binary");
  const signature = cryptoSign("sha256", tbsDer, ca.keyPem);
  const list = asn1.create(C.UNIVERSAL, T.SEQUENCE, true, [
    asn1.fromDer(forge.util.createBuffer(tbsDer.toString("binary"))),
    sigAlg,
    asn1.create(C.UNIVERSAL, T.BITSTRING, false, `\u0000${signature.toString("binary")}`),
  ]);
  return Buffer.from(asn1.toDer(list).getBytes(), "binary");
}

/** DER to PEM with the given label. */
export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export type { KeyPairPem };
