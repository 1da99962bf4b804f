// Per-machine client certificates: what the CA issued to which machine, what it revoked, the CRL,
// and the check the API makes of a certificate a client presents.
//
// The record is <pki dir>/machine-certs.json (0600), rewritten atomically after every issue and
// revocation, before the certificate leaves the server or the revocation is answered. It holds
// serials, never keys: a key made by the server (MachineCert() in a rendered config) exists only
// in the one response that carries it.
//
// A certificate is accepted (check()) only when the CA signed it, it is within its validity, its
// serial is in the record for the machine its URI SAN names, and it is not revoked. An unknown
// serial is refused: a certificate the record lost (a data directory restored from an older
// backup) fails closed. Revoked and issued entries are dropped once the certificate has expired;
// an expired certificate is refused by its dates, so the CRL need not list it.
//
// The CRL is re-signed on every revocation, and when half of its lifetime has passed.

import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { generateRsaKey } from "./certs.ts";
import {
  CRL_VALIDITY_HOURS,
  MACHINE_KEY_BITS,
  buildCrl,
  buildMachineCert,
  csrPublicKey,
  CsrError,
  normalSerial,
  toPem,
  uuidOfCert,
  type MachineIdentity,
} from "./machine-certs.ts";
import { writeFileAtomic } from "../files/atomic-write.ts";

export const RECORD_FILE = "machine-certs.json";
const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

/** Why a machine's certificates were revoked (RFC 5280 CRLReason codes). */
export const REVOKE_REASONS = {
  /** The machine was deleted. */
  deleted: 5, // cessationOfOperation
  /** Its Secret was rotated (POST /machines/<uuid>/revoke): its credentials are in doubt. */
  revoked: 1, // keyCompromise
  /** It was put into an installer or discovery environment: what ran there is being replaced. */
  reprovisioned: 4, // superseded
} as const;
export type RevokeReason = keyof typeof REVOKE_REASONS;

export interface IssuedCert {
  Serial: string;
  Machine: string;
  Name: string;
  /** "csr": the machine made the key; "render": the server made it for a rendered config. */
  Via: "csr" | "render";
  IssuedAt: string;
  NotAfter: string;
  RevokedAt?: string;
  Reason?: RevokeReason;
}

interface RecordFile {
  Version: 1;
  CrlNumber: number;
  Certs: IssuedCert[];
}

/** A certificate and key made by the server, shown once: what it.MachineCert() returns. */
export interface MachineCertPems {
  Cert: string;
  Key: string;
  Ca: string;
}

/** `via`: how it was issued; a "render" certificate travelled in a boot file, so it is worth a plain machine token, not the agent's. */
export type CertCheck = { ok: true; uuid: string; serial: string; via: IssuedCert["Via"] } | { ok: false; reason: string };

/** At most this many unrevoked certificates per machine: an older one is revoked (superseded) when a new one is issued. */
export const MAX_CERTS_PER_MACHINE = 3;
/** At most this many certificates issued to one machine per ISSUE_WINDOW_MS: each costs a key and an RSA signature. */
export const MAX_ISSUES_PER_WINDOW = 10;
export const ISSUE_WINDOW_MS = 10 * 60 * 1000;

export interface MachineCaOptions {
  /** The PKI directory (ensurePki's): the record is written there. */
  dir: string;
  ca: { certPem: string; keyPem: string };
  log: Logger;
  now?: () => Date;
}

const pkiError = (key: string, msg: string) => new SocleError("ValidationError", "pki", key, msg);

export class MachineCa {
  private readonly bySerial = new Map<string, IssuedCert>();
  private crlNumber = 0;
  private crl: { der: Buffer; pem: string; at: number } | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly caX509: X509Certificate;
  private readonly now: () => Date;
  private readonly path: string;
  /** Per machine: when its certificates were last revoked (a CSR asked before then gets none). */
  private readonly lastRevoked = new Map<string, number>();
  /** Per machine: when its recent certificates were issued (the issue rate limit). */
  private readonly issues = new Map<string, number[]>();

  private constructor(private readonly opts: MachineCaOptions) {
    this.caX509 = new X509Certificate(opts.ca.certPem);
    this.now = opts.now ?? (() => new Date());
    this.path = join(opts.dir, RECORD_FILE);
  }

  /** Load the record (none yet: empty). A record that cannot be read stops the start: it lists revocations. */
  static async open(opts: MachineCaOptions): Promise<MachineCa> {
    const mca = new MachineCa(opts);
    let text: string | undefined;
    try {
      text = await readFile(mca.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw pkiError(mca.path, `read "${mca.path}": ${(e as Error).message}`);
    }
    if (text !== undefined) {
      let rec: RecordFile;
      try {
        rec = JSON.parse(text) as RecordFile;
        if (rec.Version !== 1 || !Array.isArray(rec.Certs) || !Number.isSafeInteger(rec.CrlNumber)) throw new Error("not a version 1 record");
      } catch (e) {
        throw pkiError(mca.path, `read machine certificate record "${mca.path}": ${(e as Error).message}; restore it from a backup (it lists the revoked certificates)`);
      }
      mca.crlNumber = rec.CrlNumber;
      for (const c of rec.Certs) if (typeof c?.Serial === "string" && typeof c.Machine === "string") mca.bySerial.set(normalSerial(c.Serial), c);
    }
    return mca;
  }

  get caPem(): string {
    return this.opts.ca.certPem;
  }

  /**
   * Sign the public key of a CSR for machine `m` (its names from `m`, never from the CSR).
   * `askedAt`: when the request was authenticated; if the machine's certificates were revoked
   * since (its body was still arriving), it gets none.
   */
  async issueForCsr(m: MachineIdentity, csrPem: string, askedAt?: number): Promise<{ certPem: string; serial: string; notAfter: Date }> {
    const revoked = this.lastRevoked.get(m.Uuid);
    if (askedAt !== undefined && revoked !== undefined && revoked >= askedAt) {
      throw new SocleError("Conflict", "machines", m.Uuid, "csr: the machine's certificates were revoked while this request arrived; authenticate again");
    }
    let spki: string;
    try {
      spki = csrPublicKey(csrPem);
    } catch (e) {
      if (e instanceof CsrError) throw new SocleError("ValidationError", "machines", m.Uuid, `csr: ${e.message}`);
      throw e;
    }
    return this.issue(m, spki, "csr");
  }

  /** A new key and certificate for machine `m`; the key is returned and forgotten. */
  async issueWithKey(m: MachineIdentity): Promise<MachineCertPems> {
    const key = await generateRsaKey(MACHINE_KEY_BITS);
    const { certPem } = await this.issue(m, key.publicKeyPem, "render");
    return { Cert: certPem, Key: key.privateKeyPem, Ca: this.opts.ca.certPem };
  }

  private async issue(m: MachineIdentity, spki: string, via: IssuedCert["Via"]): Promise<{ certPem: string; serial: string; notAfter: Date }> {
    const now = this.now();
    const recent = (this.issues.get(m.Uuid) ?? []).filter((t) => now.getTime() - t < ISSUE_WINDOW_MS);
    if (recent.length >= MAX_ISSUES_PER_WINDOW) {
      throw new SocleError("TooManyRequests", "machines", m.Uuid, `${recent.length} certificates were issued to this machine in the last ${ISSUE_WINDOW_MS / 60000} minutes; no more for now`);
    }
    this.issues.set(m.Uuid, [...recent, now.getTime()]);
    const built = buildMachineCert(spki, m, this.opts.ca, now);
    const entry: IssuedCert = { Serial: built.serial, Machine: m.Uuid, Name: m.Name, Via: via, IssuedAt: now.toISOString(), NotAfter: built.notAfter.toISOString() };
    // Superseded: the machine's own key (a CSR) ends every certificate a boot file carried, and
    // beyond MAX_CERTS_PER_MACHINE the oldest go. A copied certificate does not outlive them.
    const live = this.certsOf(m.Uuid).filter((c) => !c.RevokedAt);
    const superseded = [...(via === "csr" ? live.filter((c) => c.Via === "render") : []), ...live.filter((c) => via !== "csr" || c.Via !== "render").slice(MAX_CERTS_PER_MACHINE - 1)];
    for (const c of superseded) {
      c.RevokedAt = entry.IssuedAt;
      c.Reason = "reprovisioned";
    }
    if (superseded.length > 0) {
      this.crlNumber++;
      this.crl = undefined;
    }
    this.bySerial.set(built.serial, entry);
    try {
      await this.save();
    } catch (e) {
      this.bySerial.delete(built.serial); // never hand out a certificate the record does not hold
      // The superseded stay revoked in memory (the API refuses them), and are written with the next record.
      throw new SocleError("Unavailable", "pki", m.Uuid, `record machine certificate in "${this.path}": ${(e as Error).message}`);
    }
    this.opts.log.info("machine certificate issued", { machine: m.Uuid, name: m.Name, serial: built.serial, via, expires: entry.NotAfter, ...(superseded.length ? { superseded: superseded.map((c) => c.Serial).join(",") } : {}) });
    return built;
  }

  /**
   * Revoke every unrevoked certificate of machine `uuid`; the number revoked. `retry`: write the
   * record even when nothing is newly revoked (an earlier write of this revocation failed).
   */
  async revokeMachine(uuid: string, reason: RevokeReason, retry = false): Promise<number> {
    const at = this.now().toISOString();
    this.lastRevoked.set(uuid, this.now().getTime());
    const hit: IssuedCert[] = [];
    for (const c of this.bySerial.values()) {
      if (c.Machine === uuid && !c.RevokedAt) {
        c.RevokedAt = at;
        c.Reason = reason;
        hit.push(c);
      }
    }
    if (hit.length === 0) {
      if (retry) await this.save();
      return 0;
    }
    this.crlNumber++;
    this.crl = undefined;
    // In memory they stay revoked even if the write fails: the API refuses them either way.
    await this.save();
    this.opts.log.info("machine certificates revoked", { machine: uuid, reason, serials: hit.map((c) => c.Serial).join(",") });
    return hit.length;
  }

  /** The certificates issued to `uuid` that are in the record, newest first. */
  certsOf(uuid: string): IssuedCert[] {
    return [...this.bySerial.values()].filter((c) => c.Machine === uuid).sort((a, b) => b.IssuedAt.localeCompare(a.IssuedAt));
  }

  /** Is this certificate (PEM or DER) one the API accepts now? See the file comment. */
  check(cert: string | Uint8Array): CertCheck {
    let x: X509Certificate;
    try {
      x = new X509Certificate(typeof cert === "string" ? cert : Buffer.from(cert));
    } catch {
      return { ok: false, reason: "not a readable certificate" };
    }
    if (!x.checkIssued(this.caX509) || !x.verify(this.caX509.publicKey)) return { ok: false, reason: `not issued by this CA (issuer ${x.issuer.replace(/\n/g, ", ")})` };
    const now = this.now().getTime();
    if (new Date(x.validFrom).getTime() > now) return { ok: false, reason: `not valid before ${x.validFrom}` };
    if (new Date(x.validTo).getTime() <= now) return { ok: false, reason: `expired at ${x.validTo}` };
    if (!(x.keyUsage ?? []).includes(CLIENT_AUTH_OID)) return { ok: false, reason: "not a client certificate (no clientAuth usage)" };
    const serial = normalSerial(x.serialNumber);
    const uuid = uuidOfCert(x);
    if (!uuid) return { ok: false, reason: `serial ${serial} names no machine (no urn:uuid URI)` };
    const entry = this.bySerial.get(serial);
    if (!entry) return { ok: false, reason: `serial ${serial} is not in the record of issued certificates` };
    if (entry.Machine !== uuid) return { ok: false, reason: `serial ${serial} was issued to machine ${entry.Machine}, not ${uuid}` };
    if (entry.RevokedAt) return { ok: false, reason: `serial ${serial} was revoked at ${entry.RevokedAt} (${entry.Reason})` };
    return { ok: true, uuid, serial, via: entry.Via === "csr" ? "csr" : "render" };
  }

  /** The current CRL, DER; re-signed when half its lifetime has passed. */
  crlDer(): Buffer {
    return this.currentCrl().der;
  }

  crlPem(): string {
    return this.currentCrl().pem;
  }

  private currentCrl(): { der: Buffer; pem: string } {
    const now = this.now();
    if (this.crl && now.getTime() - this.crl.at < (CRL_VALIDITY_HOURS / 2) * 3600 * 1000) return this.crl;
    if (this.crl) {
      // Re-signed for time: a new number, kept in the record with the next write.
      this.crlNumber++;
      void this.save().catch((e) => this.opts.log.warn("could not record the CRL number", { error: (e as Error).message }));
    }
    const entries = [...this.bySerial.values()]
      .filter((c) => c.RevokedAt)
      .sort((a, b) => a.Serial.localeCompare(b.Serial))
      .map((c) => ({ serial: c.Serial, revokedAt: new Date(c.RevokedAt as string), reason: REVOKE_REASONS[c.Reason ?? "revoked"] ?? 0 }));
    const der = buildCrl(entries, this.opts.ca, this.crlNumber, now);
    this.crl = { der, pem: toPem(der, "X509 CRL"), at: now.getTime() };
    return this.crl;
  }

  /** Write the record (expired entries dropped), one write at a time, in call order. */
  private save(): Promise<void> {
    const run = async () => {
      const now = this.now().getTime();
      for (const [serial, c] of this.bySerial) {
        if (new Date(c.NotAfter).getTime() < now) this.bySerial.delete(serial);
      }
      const rec: RecordFile = { Version: 1, CrlNumber: this.crlNumber, Certs: [...this.bySerial.values()] };
      await writeFileAtomic(this.path, `${JSON.stringify(rec, null, 1)}\n`, 0o600);
    };
    const p = this.writing.then(run, run);
    this.writing = p.catch(() => undefined);
    return p;
  }
}
