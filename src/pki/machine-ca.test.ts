import { setDefaultTimeout, afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { ISSUE_WINDOW_MS, MAX_CERTS_PER_MACHINE, MAX_ISSUES_PER_WINDOW, MachineCa, RECORD_FILE } from "./machine-ca.ts";
import { MACHINE_VALIDITY_DAYS, uuidOfCert } from "./machine-certs.ts";
import { ensurePki, type PkiFiles } from "./pki.ts";

setDefaultTimeout(60_000);

const root = mkdtempSync(join(tmpdir(), "socle-mca-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const log = createLogger({ level: "error", subsystem: "pki", sink: () => {} });
const M1 = { Uuid: "3f2c1a60-8d3e-4c4f-9a51-0c7d2b6e1a01", Name: "n1.rack" };
const M2 = { Uuid: "3f2c1a60-8d3e-4c4f-9a51-0c7d2b6e1a02", Name: "n2" };
const DAY = 24 * 3600 * 1000;

let pki: PkiFiles;
let dir: string;
beforeAll(async () => {
  dir = join(root, "pki");
  pki = await ensurePki(dir, { log, sources: { hostname: "socle", interfaces: {} } });
});

const open = (d = dir, now?: () => Date) => MachineCa.open({ dir: d, ca: { certPem: pki.caCertPem, keyPem: pki.caKeyPem }, log, ...(now ? { now } : {}) });

function openssl(args: string[], input?: string): { code: number; out: string } {
  const r = Bun.spawnSync(["openssl", ...args], { stdin: input === undefined ? "ignore" : Buffer.from(input), stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

function csrOf(name: string, subj = "/CN=anything-the-machine-likes", bits = 2048): { csr: string; keyPath: string } {
  const keyPath = join(root, `${name}.key`);
  const csrPath = join(root, `${name}.csr`);
  const r = openssl(["req", "-new", "-newkey", `rsa:${bits}`, "-nodes", "-keyout", keyPath, "-out", csrPath, "-subj", subj, "-addext", "subjectAltName=URI:urn:uuid:00000000-0000-4000-8000-000000000bad,DNS:admin"]);
  expect(r.code).toBe(0);
  return { csr: readFileSync(csrPath, "utf8"), keyPath };
}

describe("machine certificates", () => {
  test("a CSR's key is signed with the machine's names, never the CSR's", async () => {
    const mca = await open();
    const { csr } = csrOf("a");
    const issued = await mca.issueForCsr(M1, csr);
    const x = new X509Certificate(issued.certPem);
    expect(x.subjectAltName).toBe(`URI:urn:uuid:${M1.Uuid}, DNS:n1.rack`);
    expect(x.subject).toContain("CN=n1.rack");
    expect(x.subject).not.toContain("anything");
    expect(uuidOfCert(x)).toBe(M1.Uuid);
    expect(x.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]); // clientAuth only
    expect(x.ca).toBe(false);
    const days = (new Date(x.validTo).getTime() - new Date(x.validFrom).getTime()) / DAY;
    expect(days).toBe(MACHINE_VALIDITY_DAYS);
    expect(x.checkIssued(new X509Certificate(pki.caCertPem))).toBe(true);
    const text = openssl(["x509", "-noout", "-text"], issued.certPem).out;
    expect(text).toContain("TLS Web Client Authentication");
    expect(text).not.toContain("TLS Web Server Authentication");
    expect(mca.check(issued.certPem)).toEqual({ ok: true, uuid: M1.Uuid, serial: issued.serial, via: "csr" });
  });

  test("bad CSRs are refused with a reason, as a 400-class error", async () => {
    const mca = await open();
    const bad = async (pem: string) => {
      try {
        await mca.issueForCsr(M1, pem);
      } catch (e) {
        expect(e).toBeInstanceOf(SocleError);
        expect((e as SocleError).type).toBe("ValidationError");
        return (e as SocleError).message;
      }
      throw new Error("accepted");
    };
    expect(await bad("hello")).toContain("expected a PEM block");
    expect(await bad("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----")).toContain("not a readable");
    const { csr } = csrOf("small", "/CN=x", 1024);
    expect(await bad(csr)).toContain("1024 bits");
    // A request whose signature does not match its key: one byte of the signature changed.
    const good = csrOf("tamper").csr;
    const b64 = good.split("\n").filter((l) => !l.startsWith("-----")).join("");
    const der = Buffer.from(b64, "base64");
    der[der.length - 5] = der[der.length - 5]! ^ 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(await bad(tampered)).toContain("signature does not verify");
    const ec = join(root, "ec.csr");
    expect(openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(root, "ec.key"), "-out", ec, "-subj", "/CN=x"]).code).toBe(0);
    expect(await bad(readFileSync(ec, "utf8"))).toContain("not RSA");
  });

  test("a server-made key and certificate: matching, recorded, key not kept", async () => {
    const mca = await open();
    const made = await mca.issueWithKey(M2);
    const x = new X509Certificate(made.Cert);
    expect(x.subjectAltName).toBe(`URI:urn:uuid:${M2.Uuid}, DNS:n2`);
    expect(made.Ca).toBe(pki.caCertPem);
    expect(openssl(["x509", "-noout", "-modulus"], made.Cert).out).toBe(openssl(["rsa", "-noout", "-modulus"], made.Key).out);
    const rec = readFileSync(join(dir, RECORD_FILE), "utf8");
    expect(rec).toContain(M2.Uuid);
    expect(rec).not.toContain("PRIVATE KEY");
    expect(statSync(join(dir, RECORD_FILE)).mode & 0o777).toBe(0o600);
  });

  test("revocation: refused by check(), listed in a CRL that openssl verifies; survives a restart", async () => {
    const d = join(root, "revoke");
    const pki2 = await ensurePki(d, { log, sources: { hostname: "socle", interfaces: {} } });
    const mk = () => MachineCa.open({ dir: d, ca: { certPem: pki2.caCertPem, keyPem: pki2.caKeyPem }, log });
    const mca = await mk();
    const { csr } = csrOf("r1");
    const a = await mca.issueForCsr(M1, csr);
    const b = await mca.issueForCsr(M2, csrOf("r2").csr);
    const caFile = join(root, "revoke-ca.pem");
    writeFileSync(caFile, pki2.caCertPem);
    const certFile = join(root, "revoke-a.pem");
    writeFileSync(certFile, a.certPem);
    const crlFile = join(root, "revoke.crl");
    writeFileSync(crlFile, mca.crlPem());
    expect(openssl(["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, certFile]).out).toContain("OK");

    expect(await mca.revokeMachine(M1.Uuid, "deleted")).toBe(1);
    expect(await mca.revokeMachine(M1.Uuid, "deleted")).toBe(0);
    const refused = mca.check(a.certPem);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.reason).toContain("revoked");
    expect(mca.check(b.certPem).ok).toBe(true);

    writeFileSync(crlFile, mca.crlPem());
    const crlText = openssl(["crl", "-noout", "-text", "-in", crlFile]).out;
    expect(crlText).toContain(`Serial Number: ${a.serial.toUpperCase()}`);
    expect(crlText).not.toContain(b.serial.toUpperCase());
    expect(crlText).toContain("Next Update");
    expect(crlText).toContain("Cessation Of Operation");
    expect(crlText).toMatch(/X509v3 CRL Number:\s*\n\s*1/);
    expect(openssl(["crl", "-noout", "-in", crlFile, "-CAfile", caFile]).out).toContain("verify OK");
    const v = openssl(["verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile, certFile]).out;
    expect(v).toContain("certificate revoked");
    // DER is the same list.
    const derFile = join(root, "revoke.der");
    writeFileSync(derFile, mca.crlDer());
    expect(openssl(["crl", "-inform", "DER", "-noout", "-text", "-in", derFile]).out).toContain(a.serial.toUpperCase());

    const again = await mk();
    expect(again.check(a.certPem).ok).toBe(false);
    expect(again.check(b.certPem).ok).toBe(true);
    writeFileSync(crlFile, again.crlPem());
    expect(openssl(["crl", "-noout", "-text", "-in", crlFile]).out).toContain(a.serial.toUpperCase());
  });

  test("check() refuses foreign, unknown, expired and mislabelled certificates", async () => {
    const mca = await open();
    // Signed by another CA.
    const other = await ensurePki(join(root, "other"), { log, sources: { hostname: "other", interfaces: {} } });
    const foreign = await (await MachineCa.open({ dir: join(root, "other"), ca: { certPem: other.caCertPem, keyPem: other.caKeyPem }, log })).issueWithKey(M1);
    const r1 = mca.check(foreign.Cert);
    expect(!r1.ok && r1.reason).toContain("not issued by this CA");
    // The server certificate: ours, but no clientAuth.
    const r2 = mca.check(pki.certPem);
    expect(!r2.ok && r2.reason).toContain("clientAuth");
    // Issued, then the record lost it (another data directory): unknown serial.
    const elsewhere = join(root, "elsewhere");
    mkdirSync(elsewhere);
    const lost = await (await open(elsewhere)).issueWithKey(M1);
    const r3 = mca.check(lost.Cert);
    expect(!r3.ok && r3.reason).toContain("not in the record");
    // Expired: the same CA 91 days later.
    const issued = await mca.issueWithKey(M1);
    const later = await open(dir, () => new Date(Date.now() + 91 * DAY));
    const r4 = later.check(issued.Cert);
    expect(!r4.ok && r4.reason).toContain("expired");
    expect(mca.check("garbage").ok).toBe(false);
  });
});

describe("bounds: what a machine can make the CA do", () => {
  test("a CSR whose key has an exponent other than 65537 is refused before its signature is checked (a huge one would hold the thread)", async () => {
    const mca = await open(mkdtempSync(join(root, "exp-")));
    const keyPath = join(root, "e3.key");
    expect(openssl(["genrsa", "-3", "-out", keyPath, "2048"]).code).toBe(0);
    const csr = openssl(["req", "-new", "-key", keyPath, "-subj", "/CN=x"]).out;
    const e = await mca.issueForCsr(M1, csr).catch((x: unknown) => x);
    expect((e as SocleError).message).toContain("public exponent is not 65537");
  });

  test("at most MAX_CERTS_PER_MACHINE live certificates: the oldest is superseded; the machine's own CSR supersedes every boot-file one", async () => {
    const mca = await open(mkdtempSync(join(root, "cap-")));
    const rendered = [];
    for (let i = 0; i < MAX_CERTS_PER_MACHINE + 1; i++) rendered.push(await mca.issueWithKey(M1));
    const live = () => mca.certsOf(M1.Uuid).filter((c) => !c.RevokedAt);
    expect(live().length).toBe(MAX_CERTS_PER_MACHINE);
    expect(mca.check(rendered[0]!.Cert)).toMatchObject({ ok: false, reason: expect.stringContaining("reprovisioned") });
    expect(mca.check(rendered.at(-1)!.Cert)).toMatchObject({ ok: true, via: "render" });
    const own = await mca.issueForCsr(M1, csrOf("own").csr);
    expect(live().map((c) => c.Serial)).toEqual([own.serial]);
    expect(mca.check(rendered.at(-1)!.Cert).ok).toBe(false);
    expect(mca.check(own.certPem)).toMatchObject({ ok: true, via: "csr" });
    expect(mca.crlPem()).toContain("BEGIN X509 CRL");
  });

  test("at most MAX_ISSUES_PER_WINDOW issued to one machine per window; another machine is not held up", async () => {
    let t = Date.UTC(2026, 11, 7);
    const mca = await open(mkdtempSync(join(root, "rate-")), () => new Date(t));
    for (let i = 0; i < MAX_ISSUES_PER_WINDOW; i++) await mca.issueWithKey(M1);
    const e = await mca.issueWithKey(M1).catch((x: unknown) => x);
    expect((e as SocleError).type).toBe("TooManyRequests");
    await mca.issueWithKey(M2);
    t += ISSUE_WINDOW_MS + 1;
    await mca.issueWithKey(M1);
  });

  test("a CSR authenticated before a revocation gets nothing (its body was still arriving)", async () => {
    const mca = await open(mkdtempSync(join(root, "race-")));
    const askedAt = Date.now() - 1000;
    await mca.issueForCsr(M1, csrOf("r1").csr);
    await mca.revokeMachine(M1.Uuid, "revoked");
    const e = await mca.issueForCsr(M1, csrOf("r2").csr, askedAt).catch((x: unknown) => x);
    expect((e as SocleError).type).toBe("Conflict");
    await mca.issueForCsr(M1, csrOf("r3").csr, Date.now() + 1);
  });
});
