import { setDefaultTimeout, afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname, networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, type Logger } from "../log/logger.ts";
import { SocleError } from "../model/errors.ts";
import { canonicalIp } from "./ip-bytes.ts";
import { ensurePki, loadTlsFiles, type PkiFiles } from "./pki.ts";
import { isDnsName, parseSubjectAltName } from "./subject-names.ts";

// RSA key generation and pure-JS signing take seconds on a loaded 2-core machine.
setDefaultTimeout(60_000);

const root = mkdtempSync(join(tmpdir(), "socle-pki-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: "debug", subsystem: "pki", sink: (l) => lines.push(l) }), lines };
}

const DAY = 24 * 3600 * 1000;
let base: string; // a directory initialised once, copied by tests that change it
let first: PkiFiles;
let firstLines: string[];

beforeAll(async () => {
  base = join(root, "base");
  const { log, lines } = capture();
  first = await ensurePki(base, { log });
  firstLines = lines;
});

function copyOf(name: string): string {
  const d = join(root, name);
  cpSync(base, d, { recursive: true });
  return d;
}

describe("ensurePki: first start", () => {
  test("creates the four files, keys private", () => {
    expect(first.created).toBe(true);
    for (const f of ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"]) expect(existsSync(join(base, f))).toBe(true);
    expect(statSync(join(base, "ca-key.pem")).mode & 0o777).toBe(0o600);
    expect(statSync(join(base, "server-key.pem")).mode & 0o777).toBe(0o600);
    expect(first.caPath).toBe(join(base, "ca.pem"));
    expect(readFileSync(first.certPath, "utf8")).toBe(first.certPem);
    expect(readFileSync(first.keyPath, "utf8")).toBe(first.keyPem);
    expect(firstLines.some((l) => l.includes("created certificate authority"))).toBe(true);
    expect(firstLines.some((l) => l.includes("created server certificate: new certificate authority"))).toBe(true);
  });

  test("the chain verifies, with the sizes, lifetimes and flags intended", () => {
    const ca = new X509Certificate(first.caCertPem);
    const server = new X509Certificate(first.certPem);
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.checkPrivateKey(createPrivateKey(first.keyPem))).toBe(true);
    expect(ca.publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(server.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const days = (c: X509Certificate) => (new Date(c.validTo).getTime() - Date.now()) / DAY;
    expect(days(ca)).toBeGreaterThan(3648);
    expect(days(server)).toBeGreaterThan(823);
    expect(days(server)).toBeLessThanOrEqual(824);
    expect(new Date(server.validFrom).getTime()).toBeLessThan(Date.now());
    // Positive serials (DER INTEGER with the top bit clear), 128 bits.
    for (const c of [ca, server]) expect(c.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(ca.serialNumber).not.toBe(server.serialNumber);
    expect(server.keyUsage).toContain("1.3.6.1.5.5.7.3.1"); // serverAuth
  });

  test("the server certificate names loopback and local addresses", () => {
    const sans = parseSubjectAltName(new X509Certificate(first.certPem).subjectAltName);
    expect(sans.dns).toContain("localhost");
    expect(sans.ips).toContain("127.0.0.1");
    expect(sans.ips).toContain("0:0:0:0:0:0:0:1");
    for (const list of Object.values(networkInterfaces())) {
      for (const i of list ?? []) expect(sans.ips).toContain(canonicalIp(i.address) ?? `unparsable ${i.address}`);
    }
    if (isDnsName(hostname().toLowerCase())) expect(sans.dns).toContain(hostname().toLowerCase());
  });
});

describe("ensurePki: restarts", () => {
  test("a second start reuses everything", async () => {
    const { log, lines } = capture();
    const again = await ensurePki(base, { log });
    expect(again.created).toBe(false);
    expect(again.caCertPem).toBe(first.caCertPem);
    expect(again.certPem).toBe(first.certPem);
    expect(again.keyPem).toBe(first.keyPem);
    expect(lines).toEqual([]);
  });

  test("a new address renews the server certificate, not the CA, and says why", async () => {
    const dir = copyOf("new-address");
    const { log, lines } = capture();
    const r = await ensurePki(dir, { log, addresses: ["198.51.100.7"], hostnames: ["socle.lab.example"] });
    expect(r.created).toBe(true);
    expect(r.caCertPem).toBe(first.caCertPem);
    expect(r.certPem).not.toBe(first.certPem);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("created server certificate: its names lack socle.lab.example, 198.51.100.7");
    const sans = parseSubjectAltName(new X509Certificate(r.certPem).subjectAltName);
    expect(sans.ips).toContain("198.51.100.7");
    expect(sans.dns).toContain("socle.lab.example");
    expect(new X509Certificate(r.certPem).verify(new X509Certificate(first.caCertPem).publicKey)).toBe(true);
    // And then it is stable.
    expect((await ensurePki(dir, { log, addresses: ["198.51.100.7"], hostnames: ["socle.lab.example"] })).created).toBe(false);
  });

  test("keepKey (the HA pair): the other node's names are added with the same key, so the pin holds", async () => {
    const dir = copyOf("keep-key");
    const { log, lines } = capture();
    const r = await ensurePki(dir, { log, keepKey: true, addresses: ["198.51.100.10"], sources: { hostname: "branch-b", interfaces: {} } });
    expect(r.created).toBe(true);
    expect(r.keyPem).toBe(first.keyPem);
    expect(r.certPem).not.toBe(first.certPem);
    expect(lines[0]).toContain("created server certificate with the key it had: its names lack branch-b");
    const sans = parseSubjectAltName(new X509Certificate(r.certPem).subjectAltName);
    // The first node's names stay beside the new ones: both nodes serve this certificate.
    for (const n of parseSubjectAltName(new X509Certificate(first.certPem).subjectAltName).dns) expect(sans.dns).toContain(n);
    expect(sans.dns).toContain("branch-b");
    expect(sans.ips).toContain("198.51.100.10");
    expect(new X509Certificate(r.certPem).checkPrivateKey(createPrivateKey(first.keyPem))).toBe(true);
    // Without keepKey a missing name still makes a new key (a single node's default).
    const fresh = await ensurePki(copyOf("no-keep-key"), { log, sources: { hostname: "branch-c", interfaces: {} } });
    expect(fresh.keyPem).not.toBe(first.keyPem);
  });

  test("a changed host name renews the server certificate", async () => {
    const dir = copyOf("new-hostname");
    const { log, lines } = capture();
    const r = await ensurePki(dir, { log, sources: { hostname: "renamed-host", interfaces: {} } });
    expect(r.created).toBe(true);
    expect(lines.join("\n")).toContain("its names lack renamed-host");
  });

  test("a server certificate within 30 days of its end is renewed", async () => {
    const dir = copyOf("expiring");
    const { log, lines } = capture();
    expect((await ensurePki(dir, { log, now: new Date(Date.now() + 790 * DAY) })).created).toBe(false);
    const r = await ensurePki(dir, { log, now: new Date(Date.now() + 800 * DAY) });
    expect(r.created).toBe(true);
    expect(r.caCertPem).toBe(first.caCertPem);
    expect(lines.join("\n")).toMatch(/created server certificate: it expires at \S+, within 30 days/);
  });

  test("a server key that does not match its certificate is repaired", async () => {
    const dir = copyOf("torn");
    const other = await ensurePki(join(root, "other"), { log: capture().log });
    writeFileSync(join(dir, "server-key.pem"), other.keyPem);
    const { log, lines } = capture();
    const r = await ensurePki(dir, { log });
    expect(r.created).toBe(true);
    expect(lines[0]).toContain("does not match");
    expect(new X509Certificate(r.certPem).checkPrivateKey(createPrivateKey(r.keyPem))).toBe(true);
    // A server certificate from another CA is replaced too.
    writeFileSync(join(dir, "server.pem"), other.certPem);
    writeFileSync(join(dir, "server-key.pem"), other.keyPem);
    const lines2 = capture();
    expect((await ensurePki(dir, { log: lines2.log })).created).toBe(true);
    expect(lines2.lines[0]).toContain("not signed by the current CA");
  });

  test("a missing CA key is an error naming it; the CA is never silently replaced", async () => {
    const dir = copyOf("lost-ca-key");
    unlinkSync(join(dir, "ca-key.pem"));
    const p = ensurePki(dir, { log: capture().log });
    await expect(p).rejects.toBeInstanceOf(SocleError);
    await expect(ensurePki(dir, { log: capture().log })).rejects.toThrow(`"${join(dir, "ca-key.pem")}" is missing`);
    expect(readFileSync(join(dir, "ca.pem"), "utf8")).toBe(first.caCertPem);
  });

  test("a CA key that does not match the CA is an error naming both", async () => {
    const dir = copyOf("wrong-ca-key");
    writeFileSync(join(dir, "ca-key.pem"), first.keyPem);
    await expect(ensurePki(dir, { log: capture().log })).rejects.toThrow(
      `key "${join(dir, "ca-key.pem")}" does not match certificate "${join(dir, "ca.pem")}"`,
    );
  });

  test("a lone CA key (interrupted first start) is replaced by a new CA", async () => {
    const dir = copyOf("half-ca");
    unlinkSync(join(dir, "ca.pem"));
    const r = await ensurePki(dir, { log: capture().log });
    expect(r.created).toBe(true);
    expect(r.caCertPem).not.toBe(first.caCertPem);
    expect(new X509Certificate(r.certPem).verify(new X509Certificate(r.caCertPem).publicKey)).toBe(true);
  });

  test("bad operator extras are refused before anything is written", async () => {
    const dir = join(root, "bad-extras");
    await expect(ensurePki(dir, { log: capture().log, addresses: ["198.51.100.256"] })).rejects.toThrow('"198.51.100.256"');
    expect(existsSync(dir)).toBe(false);
  });
});

describe("serving with the generated certificate", () => {
  test("Bun.serve on 127.0.0.1 answers a fetch that trusts only our CA", async () => {
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: first.certPem, key: first.keyPem },
      fetch: () => new Response("socle"),
    });
    try {
      const ok = await fetch(`https://127.0.0.1:${server.port}/`, { tls: { ca: first.caCertPem } });
      expect(await ok.text()).toBe("socle");
      const byName = await fetch(`https://localhost:${server.port}/`, { tls: { ca: first.caCertPem } });
      expect(byName.status).toBe(200);
      // Without our CA the same server is refused: verification is really on.
      await expect(fetch(`https://127.0.0.1:${server.port}/`)).rejects.toThrow();
    } finally {
      server.stop(true);
    }
  });
});

describe("loadTlsFiles", () => {
  test("a matching pair loads", async () => {
    const r = await loadTlsFiles(first.certPath, first.keyPath);
    expect(r.certPem).toBe(first.certPem);
    expect(r.keyPem).toBe(first.keyPem);
  });

  test("a key that does not match names the key file", async () => {
    const caKey = join(base, "ca-key.pem");
    try {
      await loadTlsFiles(first.certPath, caKey);
      throw new Error("expected a throw");
    } catch (e) {
      expect(e).toBeInstanceOf(SocleError);
      expect((e as SocleError).message).toBe(`load TLS key "${caKey}": it does not match the certificate "${first.certPath}"`);
      expect((e as SocleError).key).toBe(caKey);
    }
  });

  test("missing or garbage files are named", async () => {
    const missing = join(root, "nope.pem");
    await expect(loadTlsFiles(missing, first.keyPath)).rejects.toThrow(`read TLS certificate "${missing}"`);
    const garbage = join(root, "garbage.pem");
    writeFileSync(garbage, "not a certificate\n");
    await expect(loadTlsFiles(garbage, first.keyPath)).rejects.toThrow(`parse TLS certificate "${garbage}"`);
    await expect(loadTlsFiles(first.certPath, garbage)).rejects.toThrow(`parse TLS key "${garbage}"`);
  });

  test("an expired certificate loads with a warning", async () => {
    const { log, lines } = capture();
    await loadTlsFiles(first.certPath, first.keyPath, { log, now: new Date(Date.now() + 900 * DAY) });
    expect(lines.join("\n")).toContain("TLS certificate has expired");
  });
});
