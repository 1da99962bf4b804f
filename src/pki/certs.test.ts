import { setDefaultTimeout, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { buildCaCert, buildServerCert, generateRsaKey, randomSerial, type KeyPairPem } from "./certs.ts";

// RSA key generation and pure-JS signing take seconds on a loaded 2-core machine.
setDefaultTimeout(60_000);

let caKey: KeyPairPem;
let serverKey: KeyPairPem;
beforeAll(async () => {
  // Small keys keep this unit test fast; ensurePki's own test covers the real sizes.
  [caKey, serverKey] = await Promise.all([generateRsaKey(2048), generateRsaKey(2048)]);
});

describe("randomSerial", () => {
  test("128-bit, positive, non-zero first byte, distinct", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = randomSerial();
      expect(s).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(s.slice(0, 2)).not.toBe("00");
      seen.add(s);
    }
    expect(seen.size).toBe(200);
  });
});

describe("buildCaCert / buildServerCert", () => {
  test("the server certificate carries exactly the given names and chains to the CA", () => {
    const now = new Date(Date.UTC(2026, 10, 22));
    const caPem = buildCaCert(caKey, "Socle CA test", now);
    const ca = new X509Certificate(caPem);
    expect(ca.subject).toContain("CN=Socle CA test");
    expect(ca.validFrom).toBe("Nov 21 00:00:00 2026 GMT"); // backdated one day
    const pem = buildServerCert(
      serverKey,
      { dns: ["localhost", "pxe.lab"], ips: ["127.0.0.1", "0:0:0:0:0:0:0:1", "2001:db8:0:0:0:0:0:7"] },
      { certPem: caPem, keyPem: caKey.privateKeyPem },
      now,
    );
    const x = new X509Certificate(pem);
    expect(x.subject).toContain("CN=pxe.lab");
    expect(x.issuer).toBe(ca.subject);
    expect(x.verify(ca.publicKey)).toBe(true);
    expect(x.checkHost("pxe.lab")).toBe("pxe.lab");
    expect(x.checkHost("other.lab")).toBeUndefined();
    expect(x.checkIP("::1")).toBe("::1");
    expect(x.checkIP("2001:db8::7")).toBe("2001:db8::7");
    expect(x.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x.checkIP("198.51.100.1")).toBeUndefined();
    // 825 days from notBefore to notAfter, the most Apple clients accept.
    expect(new Date(x.validTo).getTime() - new Date(x.validFrom).getTime()).toBe(825 * 24 * 3600 * 1000);
    expect(new Date(ca.validTo).getTime() - new Date(ca.validFrom).getTime()).toBe(3650 * 24 * 3600 * 1000);
  });
});

test("publicKeyPin: sha256// and the base64 SHA-256 of the certificate's SubjectPublicKeyInfo, as openssl computes it", async () => {
  const { publicKeyPin } = await import("./certs.ts");
  const { X509Certificate, createHash } = await import("node:crypto");
  const key = await generateRsaKey(2048);
  const pem = buildCaCert(key, "pin test");
  const spki = new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
  expect(publicKeyPin(pem)).toBe(`sha256//${createHash("sha256").update(spki).digest("base64")}`);
  if (Bun.which("openssl")) {
    const p = Bun.spawn(["sh", "-c", "openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"], { stdin: "pipe", stdout: "pipe" });
    p.stdin.write(pem);
    await p.stdin.end();
    expect(publicKeyPin(pem)).toBe(`sha256//${(await new Response(p.stdout).text()).trim()}`);
  }
}, 60_000);

test("selfSignedRoot: a chain's last certificate when it is a self-signed root, else empty", async () => {
  const { selfSignedRoot } = await import("./certs.ts");
  const caPem = buildCaCert(caKey, "Socle CA root test");
  const serverPem = buildServerCert(serverKey, { dns: ["localhost"], ips: ["127.0.0.1"] }, { certPem: caPem, keyPem: caKey.privateKeyPem });
  expect(selfSignedRoot(serverPem + caPem)).toBe(caPem.trim() + "\n"); // server + root: the root
  expect(selfSignedRoot(caPem)).toBe(caPem.trim() + "\n"); // a lone self-signed certificate
  expect(selfSignedRoot(serverPem)).toBe(""); // ends below a root: the system's store decides
  expect(selfSignedRoot("not a certificate")).toBe("");
  expect(selfSignedRoot("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toBe("");
});
