import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../log/logger.ts";
import { nodeForge } from "./forge.ts";
import { ensurePki } from "./pki.ts";

setDefaultTimeout(60_000);

const root = mkdtempSync(join(tmpdir(), "socle-forge-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const log = createLogger({ level: "error", subsystem: "pki", sink: () => {} });

test("nodeForge() is node-forge itself, loaded once for every caller", () => {
  const a = nodeForge();
  expect(a).toBe(nodeForge());
  expect(typeof a.pki.createCertificate).toBe("function");
  expect(a).toBe(require("node-forge"));
});

test("a start with the PKI on disk reads it without loading node-forge; the first certificate built loads it and is right", async () => {
  const dir = join(root, "pki");
  await ensurePki(dir, { log, sources: { hostname: "socle", interfaces: {} } }); // made here, in this process
  // A fresh process, as a restarted server: open the PKI, the machine CA, check a certificate, pin
  // the key; then issue a machine certificate and write the CRL, which need forge.
  const code = `
    const here = ${JSON.stringify(import.meta.dir)};
    const { ensurePki } = await import(here + "/pki.ts");
    const { MachineCa } = await import(here + "/machine-ca.ts");
    const { publicKeyPin } = await import(here + "/certs.ts");
    await import(here + "/node-certs.ts");
    const { createLogger } = await import(here + "/../log/logger.ts");
    const log = createLogger({ level: "error", subsystem: "pki", sink: () => {} });
    const loaded = () => Object.keys(require.cache).some((k) => k.includes("/node_modules/node-forge/"));
    const pki = await ensurePki(${JSON.stringify(dir)}, { log, sources: { hostname: "socle", interfaces: {} } });
    const mca = await MachineCa.open({ dir: ${JSON.stringify(dir)}, ca: { certPem: pki.caCertPem, keyPem: pki.caKeyPem }, log });
    const refused = mca.check(pki.certPem);
    const pin = publicKeyPin(pki.certPem);
    const atRest = loaded();
    const issued = await mca.issueWithKey({ Uuid: "3f2c1a60-8d3e-4c4f-9a51-0c7d2b6e1a01", Name: "n1" });
    const check = mca.check(issued.Cert);
    const crl = mca.crlPem();
    console.log(JSON.stringify({ created: pki.created, atRest, refused: refused.ok, pin: pin.startsWith("sha256//"), check, crl: crl.startsWith("-----BEGIN X509 CRL-----"), after: loaded() }));`;
  const proc = Bun.spawn([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe" });
  const [out, err, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(err).toBe("");
  expect(exit).toBe(0);
  expect(JSON.parse(out.trim())).toEqual({
    created: false,
    atRest: false,
    refused: false, // the server certificate is no machine's client certificate
    pin: true,
    check: { ok: true, uuid: "3f2c1a60-8d3e-4c4f-9a51-0c7d2b6e1a01", serial: expect.any(String), via: "render" },
    crl: true,
    after: true,
  });
});
