// The agent's certificate, with the real agent script, sh, curl and openssl against a real server:
// it makes its key (0600, never sent), sends a CSR with its agent token, then works with the
// certificate alone on the client-certificate port (a token that is no longer valid does not
// matter), and when the machine's credentials are revoked the certificate is refused, the agent
// says so and falls back to its token, and the CRL on the boot file server lists the serial.
// Without openssl it keeps the bearer token alone.

import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { freePort, startTestSocle, type TestSocle } from "../helpers/socle.ts";
import { normalSerial } from "../../src/pki/machine-certs.ts";

setDefaultTimeout(90_000);
const NEEDED = ["sh", "curl", "openssl"].every((t) => Bun.which(t));
const TOOLS = ["sh", "curl", "cut", "mkdir", "chmod", "mv", "rm", "cat", "sed", "tr", "grep", "head", "tail", "wc", "sleep", "date", "setsid", "kill"];
const AGENT = join(import.meta.dir, "../../assets/agent/socle-agent");

let s: TestSocle;
let httpPort = 0;
let dir = "";
let bin = "";
let binSsl = "";

beforeAll(async () => {
  httpPort = freePort();
  s = await startTestSocle(["--disable-static=false", "--static-listen", "127.0.0.1", "--static-port", String(httpPort), "--address", "127.0.0.1"]);
  dir = mkdtempSync(join(tmpdir(), "socle-agent-cert-"));
  bin = join(dir, "bin");
  binSsl = join(dir, "bin-ssl");
  mkdirSync(bin);
  mkdirSync(binSsl);
  for (const t of TOOLS) {
    const found = Bun.which(t);
    if (found) {
      symlinkSync(found, join(bin, t));
      symlinkSync(found, join(binSsl, t));
    }
  }
  const ssl = Bun.which("openssl");
  if (ssl) symlinkSync(ssl, join(binSsl, "openssl"));
});
afterAll(async () => {
  await s?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function agent(path: string, env: Record<string, string>): Promise<{ code: number; err: string }> {
  const p = Bun.spawn([join(path, "sh"), AGENT], {
    env: { PATH: path, RS_CONFIG: join(dir, "none.env"), RS_ENDPOINT: s.base, RS_CA: join(s.dir, "pki", "ca.pem"), RS_ONESHOT: "1", RS_WAIT: "1", RS_BACKOFF_MAX: "1", RS_BOOTENV: "local", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited, new Response(p.stdout).text()]);
  return { code, err };
}

async function machine(name: string, mac: string, address: string): Promise<{ uuid: string; agentToken: string }> {
  const m = await s.call("POST", "/api/v3/machines", { body: { Name: name, HardwareAddrs: [mac], Address: address, BootEnv: "local" } });
  expect(m.status).toBe(201);
  const uuid = m.body.Uuid as string;
  const plain = (await s.call("GET", `/api/v3/machines/${uuid}/token`)).body.Token;
  const agentToken = (await s.call("GET", `/api/v3/machines/${uuid}/token`, { auth: `Bearer ${plain}` })).body.Token as string;
  return { uuid, agentToken };
}

test.skipIf(!NEEDED)("the agent gets a certificate by CSR, works with it alone, and is refused once it is revoked", async () => {
  const { uuid, agentToken } = await machine("agent-cert-1", "52:54:00:ce:00:01", "127.0.0.1");
  const state = join(dir, "state-1");

  const first = await agent(binSsl, { RS_UUID: uuid, RS_TOKEN: agentToken, RS_STATE: state });
  expect(`${first.code} ${first.err}`).toContain("0 ");
  expect(first.err).toContain("client certificate in use");
  const crt = readFileSync(join(state, "machine.crt"), "utf8");
  const x = new X509Certificate(crt);
  expect(x.subjectAltName).toContain(`URI:urn:uuid:${uuid}`);
  expect(x.subjectAltName).toContain("DNS:agent-cert-1");
  expect(statSync(join(state, "machine.key")).mode & 0o777).toBe(0o600);
  const serial = normalSerial(x.serialNumber);
  expect(readFileSync(join(s.dir, "pki", "machine-certs.json"), "utf8")).toContain(serial);

  // The certificate alone: a token that is not one (and no renewal) is never sent.
  const second = await agent(binSsl, { RS_UUID: uuid, RS_TOKEN: "not.a.token", RS_RENEW: "0", RS_STATE: state });
  expect(`${second.code} ${second.err}`).toContain("0 ");
  expect(second.err).not.toContain("refused");
  expect(readFileSync(join(state, "machine.crt"), "utf8")).toBe(crt); // not renewed: young

  // Revoked (the operator's POST revoke): the certificate is refused, the agent says so, drops it
  // and falls back to the token, which is refused too (exit 2). The CRL lists the serial.
  expect((await s.call("POST", `/api/v3/machines/${uuid}/revoke`, { raw: "{}" })).status).toBe(200);
  const third = await agent(binSsl, { RS_UUID: uuid, RS_TOKEN: agentToken, RS_STATE: state });
  expect(third.code).toBe(2);
  expect(third.err).toContain("the client certificate is refused");
  expect(existsSync(join(state, "machine.crt"))).toBe(false);
  const crl = await (await fetch(`http://127.0.0.1:${httpPort}/socle/crl.pem`)).text();
  writeFileSync(join(dir, "crl.pem"), crl);
  const text = Bun.spawnSync(["openssl", "crl", "-noout", "-text", "-in", join(dir, "crl.pem")]).stdout.toString();
  expect(text).toContain(`Serial Number: ${serial.toUpperCase()}`);
  // The certificate presented by curl directly: refused.
  writeFileSync(join(dir, "old.crt"), crt);
  const p = Bun.spawn(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", join(s.dir, "pki", "ca.pem"), "--cert", join(dir, "old.crt"), "--key", join(state, "machine.key"), `https://127.0.0.1:${s.socle.mtlsPort}/api/v3/machines/${uuid}`], { stdout: "pipe" });
  expect(await new Response(p.stdout).text()).toBe("401");
  await s.call("PATCH", `/api/v3/machines/${uuid}`, { body: [{ op: "replace", path: "/Address", value: "" }], type: "application/json-patch+json" });
});

test.skipIf(!NEEDED)("without openssl the agent keeps its bearer token alone", async () => {
  const { uuid, agentToken } = await machine("agent-cert-2", "52:54:00:ce:00:02", "127.0.0.1");
  const state = join(dir, "state-2");
  const r = await agent(bin, { RS_UUID: uuid, RS_TOKEN: agentToken, RS_STATE: state });
  expect(`${r.code} ${r.err}`).toContain("0 ");
  expect(r.err).toContain("openssl is not here; the token alone is used");
  expect(existsSync(join(state, "machine.key"))).toBe(false);
  await s.call("PATCH", `/api/v3/machines/${uuid}`, { body: [{ op: "replace", path: "/Address", value: "" }], type: "application/json-patch+json" });
});

test.skipIf(!NEEDED)("a certificate the installed system was given beside its agent.env (it.MachineCert()) is used, then replaced by one for a key made here", async () => {
  const { uuid, agentToken } = await machine("agent-cert-3", "52:54:00:ce:00:03", "127.0.0.1");
  const etc = join(dir, "etc-3");
  mkdirSync(etc);
  // What an Ignition config rendered with it.MachineCert() writes: a key made by the server.
  const keyFile = join(etc, "machine.key");
  expect(Bun.spawnSync(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", join(dir, "m3.csr"), "-subj", "/CN=x"]).exitCode).toBe(0);
  const signed = await s.call("POST", `/api/v3/machines/${uuid}/csr`, { raw: readFileSync(join(dir, "m3.csr"), "utf8"), type: "application/x-pem-file" });
  expect(signed.status).toBe(201);
  writeFileSync(join(etc, "machine.crt"), signed.body.Cert);
  const state = join(dir, "state-3");
  const r = await agent(binSsl, { RS_CONFIG: join(etc, "agent.env"), RS_UUID: uuid, RS_TOKEN: agentToken, RS_RENEW: "0", RS_STATE: state });
  expect(`${r.code} ${r.err}`).toContain("0 ");
  expect(r.err).toContain(`client certificate from ${etc}/machine.crt`);
  expect(statSync(join(state, "machine.key")).mode & 0o777).toBe(0o600);
  // Its key travelled in a boot file: the agent made its own and asked for a certificate for it.
  expect(existsSync(join(state, "machine.via"))).toBe(false);
  expect(readFileSync(join(state, "machine.key"), "utf8")).not.toBe(readFileSync(keyFile, "utf8"));
  expect(readFileSync(join(state, "machine.crt"), "utf8")).not.toBe(signed.body.Cert);
  const own = new X509Certificate(readFileSync(join(state, "machine.crt"), "utf8"));
  expect(own.checkPrivateKey(createPrivateKey(readFileSync(join(state, "machine.key"))))).toBe(true);
  await s.call("PATCH", `/api/v3/machines/${uuid}`, { body: [{ op: "replace", path: "/Address", value: "" }], type: "application/json-patch+json" });
});
