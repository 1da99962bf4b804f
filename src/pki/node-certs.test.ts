import { setDefaultTimeout, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { buildCaCert, buildServerCert, generateRsaKey } from "./certs.ts";
import { csrPublicKey } from "./machine-certs.ts";
import { NODE_VALIDITY_DAYS, certFingerprint, certFingerprintProblem, issueNodeCert, makeNodeKeyAndCsr, nodeCertProblem, nodeNameOfCert, nodeNameProblem } from "./node-certs.ts";

setDefaultTimeout(60_000);

let ca: { certPem: string; keyPem: string };
let other: { certPem: string; keyPem: string };
beforeAll(async () => {
  const k = await generateRsaKey(2048);
  ca = { certPem: buildCaCert(k, "Pair CA"), keyPem: k.privateKeyPem };
  const o = await generateRsaKey(2048);
  other = { certPem: buildCaCert(o, "Other CA"), keyPem: o.privateKeyPem };
});

describe("node certificates", () => {
  test("a CSR's key is issued a serverAuth+clientAuth certificate naming the node by URI only", async () => {
    const { keyPem, csrPem } = await makeNodeKeyAndCsr("node-b.site1");
    const now = new Date("2026-12-07T05:00:00Z");
    const { certPem, notAfter } = issueNodeCert(csrPublicKey(csrPem), "node-b.site1", ca, now);
    const x = new X509Certificate(certPem);
    expect(x.subjectAltName).toBe("URI:urn:socle:ha-node:node-b.site1");
    expect(x.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
    expect(x.ca).toBe(false);
    expect(x.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(nodeNameOfCert(x)).toBe("node-b.site1");
    expect(Math.round((notAfter.getTime() - now.getTime()) / 86400000)).toBe(NODE_VALIDITY_DAYS);
    const caX = new X509Certificate(ca.certPem);
    expect(nodeCertProblem(x, caX, "server", now)).toBeUndefined();
    expect(nodeCertProblem(x, caX, "client", now)).toBeUndefined();
    expect(nodeCertProblem(x, new X509Certificate(other.certPem), "client", now)).toMatch(/^not issued by the pair CA \(issuer .*Pair CA/);
    expect(nodeCertProblem(x, caX, "client", new Date(notAfter.getTime() + 1000))).toMatch(/^expired at /);
  });

  test("a certificate of the same CA that names no node (a server certificate) is not a node certificate", async () => {
    const k = await generateRsaKey(2048);
    const x = new X509Certificate(buildServerCert(k, { dns: ["socle"], ips: ["127.0.0.1"] }, ca));
    expect(nodeNameOfCert(x)).toBeUndefined();
    expect(nodeCertProblem(x, new X509Certificate(ca.certPem), "client")).toBe("not a client certificate (no clientAuth usage)");
    expect(nodeCertProblem(x, new X509Certificate(ca.certPem), "server")).toMatch(/names no HA node/);
  });

  test("node names: host-name-like, at most 63 characters", () => {
    expect(nodeNameProblem("a")).toBeUndefined();
    expect(nodeNameProblem("socle-1.rack.example")).toBeUndefined();
    expect(nodeNameProblem("x".repeat(63))).toBeUndefined();
    expect(nodeNameProblem("x".repeat(64))).toMatch(/is not a node name/);
    expect(nodeNameProblem("-a")).toMatch(/"-a" is not a node name/);
    expect(nodeNameProblem("a b")).toMatch(/not a node name/);
    expect(nodeNameProblem("a/b")).toMatch(/not a node name/);
    expect(nodeNameProblem(7)).toBe("expected a string, got number");
    expect(() => issueNodeCert("", "bad name", ca)).toThrow(/node name "bad name" is not a node name/);
  });
});

describe("certificate fingerprints", () => {
  test("SHA-256 over the DER, as lower-case hex; two certificates for one key and name differ", async () => {
    const k = await generateRsaKey(2048);
    const one = issueNodeCert(k.publicKeyPem, "node-a", ca).certPem;
    const two = issueNodeCert(k.publicKeyPem, "node-a", ca).certPem;
    const x = new X509Certificate(one);
    expect(certFingerprint(one)).toBe(x.fingerprint256.replace(/:/g, "").toLowerCase());
    expect(certFingerprint(x)).toBe(certFingerprint(one));
    expect(certFingerprint(one)).toMatch(/^[0-9a-f]{64}$/);
    expect(certFingerprint(two)).not.toBe(certFingerprint(one));
    expect(certFingerprintProblem(certFingerprint(one))).toBeUndefined();
    expect(certFingerprintProblem(x.fingerprint256)).toMatch(/is not a SHA-256 fingerprint/);
    expect(certFingerprintProblem(7)).toBe("expected a string, got number");
  });
});
