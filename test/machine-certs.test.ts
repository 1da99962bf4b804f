// Per-machine certificates end to end over real HTTPS: a CSR signed for the machine's agent, the
// certificate used with real curl on the client-certificate listener as that machine, then revoked
// (POST revoke, delete, reprovision) and refused, and listed in the CRL the boot file server and
// the API serve. Every refusal an attacker on the provisioning network could try is here.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startTestSocle, type TestSocle } from "./helpers/socle.ts";
import { Authenticator } from "../src/api/authn.ts";
import { createLogger } from "../src/log/logger.ts";

setDefaultTimeout(60_000);

let s: TestSocle;
let staticPort: number;
const work = mkdtempSync(join(tmpdir(), "socle-mcert-"));
const caFile = join(work, "ca.pem");

beforeAll(async () => {
  staticPort = freePort();
  s = await startTestSocle(["--disable-static=false", "--static-listen", "127.0.0.1", "--static-port", String(staticPort)]);
  writeFileSync(caFile, s.socle.caCertPem);
});
afterAll(async () => {
  await s?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function run(cmd: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
  // Asynchronous: the server answers in this process.
  const p = Bun.spawn(cmd, { stdin: input === undefined ? "ignore" : new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}

/** curl on the client-certificate port; `cert` false: none. Returns the HTTP status (0: no TLS session) and body. */
async function mtls(path: string, cert: { crt: string; key: string } | false, opts: { method?: string; auth?: string; data?: string } = {}): Promise<{ status: number; body: string; curl: number }> {
  const args = ["curl", "-sS", "--max-time", "20", "--cacert", caFile, "-o", "-", "-w", "\n%{http_code}"];
  if (cert) args.push("--cert", cert.crt, "--key", cert.key);
  if (opts.method) args.push("-X", opts.method);
  if (opts.auth) args.push("-H", `Authorization: ${opts.auth}`);
  if (opts.data !== undefined) args.push("--data-binary", "@-", "-H", "Content-Type: application/x-pem-file");
  args.push(`https://127.0.0.1:${s.socle.mtlsPort}${path}`);
  const r = await run(args, opts.data);
  const nl = r.out.lastIndexOf("\n");
  return { status: Number(r.out.slice(nl + 1)) || 0, body: r.out.slice(0, nl), curl: r.code };
}

async function newMachine(name: string, address: string): Promise<string> {
  const r = await s.call("POST", "/api/v3/machines", { body: { Name: name, Address: address, HardwareAddrs: [`52:54:00:aa:00:${address.split(".")[3]!.padStart(2, "0")}`] } });
  expect(r.status).toBe(201);
  return r.body.Uuid;
}

/** The agent token of a machine at 127.0.0.1: a plain token traded from the machine's address. */
async function agentToken(uuid: string): Promise<string> {
  const plain = await s.call("GET", `/api/v3/machines/${uuid}/token`);
  expect(plain.status).toBe(200);
  const agent = await s.call("GET", `/api/v3/machines/${uuid}/token`, { auth: `Bearer ${plain.body.Token}` });
  expect(agent.status).toBe(200);
  return agent.body.Token;
}

async function csr(name: string, extra: string[] = []): Promise<{ csr: string; key: string }> {
  const key = join(work, `${name}.key`);
  const out = join(work, `${name}.csr`);
  const r = await run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", out, "-subj", `/CN=${name}`, ...extra]);
  expect(r.code).toBe(0);
  return { csr: readFileSync(out, "utf8"), key };
}

async function issue(uuid: string, auth: string, name: string, extra: string[] = []): Promise<{ crt: string; key: string; serial: string }> {
  const c = await csr(name, extra);
  const r = await s.call("POST", `/api/v3/machines/${uuid}/csr`, { raw: c.csr, type: "application/x-pem-file", auth });
  expect(r.status).toBe(201);
  const crt = join(work, `${name}.crt`);
  writeFileSync(crt, r.body.Cert);
  return { crt, key: c.key, serial: r.body.Serial };
}

async function crlText(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${staticPort}/socle/crl.pem`);
  expect(res.status).toBe(200);
  const file = join(work, "served.crl");
  writeFileSync(file, await res.text());
  const r = await run(["openssl", "crl", "-noout", "-text", "-in", file]);
  expect(r.code).toBe(0);
  return r.out;
}

async function verify(crt: string): Promise<string> {
  const file = join(work, "verify.crl");
  writeFileSync(file, await (await fetch(`http://127.0.0.1:${staticPort}/socle/crl.pem`)).text());
  const r = await run(["openssl", "verify", "-crl_check", "-CAfile", caFile, "-CRLfile", file, crt]);
  return r.out + r.err;
}

describe("machine certificates over the API", () => {
  let m1: string;
  let m2: string;
  let t1: string;
  let t2: string;
  let c1: { crt: string; key: string; serial: string };

  beforeAll(async () => {
    m1 = await newMachine("cert-m1", "127.0.0.1");
    m2 = await newMachine("cert-m2", "127.0.0.2");
    t1 = await agentToken(m1);
    // m2's agent token, minted directly (its address is not this test's).
    const settings = JSON.parse(readFileSync(join(s.dir, "settings.json"), "utf8"));
    const authn = new Authenticator({ store: s.socle.store, serverKey: settings.secrets.tokenKey, log: createLogger({ level: "error", sink: () => {} }) });
    t2 = authn.tokenForMachine(s.socle.store.get("machines", m2)!, 600, "agent").token;
    jobToken = authn.tokenForJob(s.socle.store.get("machines", m1)!, [], 600).token;
  });
  let jobToken: string;

  test("the agent's token gets a certificate for a CSR; the names are the machine's, never the CSR's", async () => {
    c1 = await issue(m1, `Bearer ${t1}`, "m1", ["-addext", `subjectAltName=URI:urn:uuid:${m2},DNS:cert-m2`]);
    const text = (await run(["openssl", "x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in", c1.crt])).out;
    expect(text).toContain(`URI:urn:uuid:${m1}`);
    expect(text).toContain("DNS:cert-m1");
    expect(text).not.toContain(m2);
    expect(text).toContain("TLS Web Client Authentication");
  });

  test("the certificate is that machine on the client-certificate port, with its agent's rights", async () => {
    const own = await mtls(`/api/v3/machines/${m1}`, c1);
    expect(own.status).toBe(200);
    expect(JSON.parse(own.body).Uuid).toBe(m1);
    // Another machine: the same 404 as a missing one; the machine list holds only itself.
    expect((await mtls(`/api/v3/machines/${m2}`, c1)).status).toBe(404);
    const list = await mtls("/api/v3/machines", c1);
    expect(list.body).not.toContain(m2);
    // Operators' routes stay closed.
    expect((await mtls("/api/v3/users", c1)).status).toBe(403);
    // Renewal with the certificate itself.
    const c = await csr("m1-renew");
    const renewed = await mtls(`/api/v3/machines/${m1}/csr`, c1, { method: "POST", data: c.csr });
    expect(renewed.status).toBe(201);
    expect(JSON.parse(renewed.body).Cert).toContain("BEGIN CERTIFICATE");
  });

  test("attackers: no token, a plain token, a job's token, another machine's token or certificate", async () => {
    const { csr: pem } = await csr("attack");
    const post = (uuid: string, auth: string | null) => s.call("POST", `/api/v3/machines/${uuid}/csr`, { raw: pem, type: "application/x-pem-file", auth });
    expect((await post(m1, null)).status).toBe(401);
    const plain = await s.call("GET", `/api/v3/machines/${m1}/token`);
    const p = await post(m1, `Bearer ${plain.body.Token}`);
    expect(p.status).toBe(403);
    expect(p.body.Messages[0]).toContain("plain machine token");
    const j = await post(m1, `Bearer ${jobToken}`);
    expect(j.status).toBe(403);
    expect(j.body.Messages[0]).toContain("job");
    expect((await post(m1, `Bearer ${t2}`)).status).toBe(404);
    expect((await post(m2, `Bearer ${t1}`)).status).toBe(404);
    // m1's certificate asking for m2's certificate.
    expect((await mtls(`/api/v3/machines/${m2}/csr`, c1, { method: "POST", data: pem })).status).toBe(404);
    // m1's certificate with m2's token, or a user's credentials: refused.
    expect((await mtls(`/api/v3/machines/${m1}`, c1, { auth: `Bearer ${t2}` })).status).toBe(401);
    expect((await mtls(`/api/v3/machines/${m1}`, c1, { auth: `Basic ${Buffer.from("admin:x").toString("base64")}` })).status).toBe(401);
    // A target that is not a path, and a Host header naming elsewhere: 400, and ignored.
    const args = ["curl", "-sS", "--cacert", caFile, "--cert", c1.crt, "--key", c1.key, "-o", "/dev/null", "-w", "%{http_code}"];
    const url = `https://127.0.0.1:${s.socle.mtlsPort}/api/v3/machines/${m1}`;
    expect((await run([...args, "--request-target", "http://evil.example/api/v3/machines", url])).out).toBe("400");
    expect((await run([...args, "-H", "Host: evil.example", url])).out).toBe("200");
    // m1's certificate with its own job token: the job's rights.
    expect((await mtls(`/api/v3/machines/${m1}`, c1, { auth: `Bearer ${jobToken}` })).status).toBe(200);
  });

  test("bad requests are 4xx JSON naming what is wrong", async () => {
    const bad = async (raw: string, type = "application/x-pem-file") => s.call("POST", `/api/v3/machines/${m1}/csr`, { raw, type, auth: `Bearer ${t1}` });
    const e1 = await bad("");
    expect(e1.status).toBe(400);
    expect(e1.body.Messages[0]).toContain("body is empty");
    const e2 = await bad("not a csr");
    expect(e2.status).toBe(422);
    expect(e2.body.Messages[0]).toContain("csr: expected a PEM block");
    const e3 = await bad('{"Csr": 5}', "application/json");
    expect(e3.status).toBe(400);
    expect(e3.body.Messages[0]).toContain("Csr");
    const e4 = await bad("x".repeat(20_000));
    expect(e4.status).toBe(413);
    const e5 = await s.call("GET", "/api/v3/pki/crl?format=xml", { auth: null });
    expect(e5.status).toBe(400);
    expect(e5.body.Messages[0]).toContain('"xml"');
  });

  test("no certificate, or one of another CA, never gets past the handshake", async () => {
    const none = await mtls(`/api/v3/machines/${m1}`, false);
    expect(none.status).toBe(0);
    const fk = join(work, "foreign.key");
    const fc = join(work, "foreign.crt");
    expect((await run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", fk, "-out", fc, "-days", "2", "-subj", "/CN=evil", "-addext", `subjectAltName=URI:urn:uuid:${m1}`])).code).toBe(0);
    expect((await mtls(`/api/v3/machines/${m1}`, { crt: fc, key: fk })).status).toBe(0);
    // The main API port does not take a certificate as credentials.
    const main = await run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caFile, "--cert", c1.crt, "--key", c1.key, `${s.base}/api/v3/machines/${m1}`]);
    expect(main.out).toBe("401");
  });

  test("POST revoke: the certificate is refused and listed in the CRL (boot file server and API)", async () => {
    const c = await issue(m1, `Bearer ${t1}`, "m1-b");
    expect((await mtls(`/api/v3/machines/${m1}`, c)).status).toBe(200);
    expect(await verify(c.crt)).toContain("OK");
    expect((await s.call("POST", `/api/v3/machines/${m1}/revoke`, { raw: "{}" })).status).toBe(200);
    const refused = await mtls(`/api/v3/machines/${m1}`, c);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body).Type).toBe("Unauthorized");
    expect((await mtls(`/api/v3/machines/${m1}`, c1)).status).toBe(401);
    const text = await crlText();
    expect(text).toContain(c.serial.toUpperCase());
    expect(text).toContain(c1.serial.toUpperCase());
    expect(await verify(c.crt)).toContain("certificate revoked");
    const api = await fetch(`${s.base}/api/v3/pki/crl?format=der`, { tls: { ca: s.socle.caCertPem } } as RequestInit);
    expect(api.status).toBe(200);
    const der = join(work, "api.crl");
    writeFileSync(der, new Uint8Array(await api.arrayBuffer()));
    expect((await run(["openssl", "crl", "-inform", "DER", "-noout", "-text", "-in", der])).out).toContain(c.serial.toUpperCase());
    expect(s.lines.join("\n")).toContain("client certificate refused");
  });

  test("reprovision (BootEnv to an installer), a new Name and delete revoke; going to local does not", async () => {
    const c = await issue(m2, `Bearer ${t2}`, "m2-a");
    expect((await s.call("PATCH", `/api/v3/machines/${m2}`, { body: [{ op: "replace", path: "/BootEnv", value: "local" }], type: "application/json-patch+json" })).status).toBe(200);
    expect((await mtls(`/api/v3/machines/${m2}`, c)).status).toBe(200);
    const envs = (await s.call("GET", "/api/v3/bootenvs")).body as Array<{ Name: string }>;
    const installer = envs.map((e) => e.Name).find((n) => n !== "local" && n !== "ignore" && !n.startsWith("discovery"))!;
    expect((await s.call("PATCH", `/api/v3/machines/${m2}`, { body: [{ op: "replace", path: "/BootEnv", value: installer }], type: "application/json-patch+json" })).status).toBe(200);
    expect((await mtls(`/api/v3/machines/${m2}`, c)).status).toBe(401);
    expect(await crlText()).toContain("Superseded");
    // A new Name: the old one is in the certificate (DNS SAN, CN) and may go to another machine.
    const named = await issue(m2, `Bearer ${t2}`, "m2-n");
    expect((await s.call("PATCH", `/api/v3/machines/${m2}`, { body: [{ op: "replace", path: "/Name", value: "cert-m2-renamed" }], type: "application/json-patch+json" })).status).toBe(200);
    expect((await mtls(`/api/v3/machines/${m2}`, named)).status).toBe(401);
    const d = await issue(m2, `Bearer ${t2}`, "m2-b");
    expect((await mtls(`/api/v3/machines/${m2}`, d)).status).toBe(200);
    expect((await s.call("DELETE", `/api/v3/machines/${m2}`)).status).toBe(200);
    expect((await mtls(`/api/v3/machines/${m2}`, d)).status).toBe(401);
    const text = await crlText();
    expect(text).toContain(d.serial.toUpperCase());
    expect(text).toContain("Cessation Of Operation");
  });
});

describe("it.MachineCert(): a server-made key in one rendered response", () => {
  let m3: string;
  const curlFrom = (addr: string, path: string) => run(["curl", "-sS", "--interface", addr, "-o", "-", "-w", "\n%{http_code}", `http://127.0.0.1:${staticPort}/${path}`]);

  beforeAll(async () => {
    const env = await s.call("POST", "/api/v3/bootenvs", {
      body: {
        Name: "identity-test",
        Templates: [{ Name: "id", Path: "machines/<%= it.Machine.Uuid %>/identity.json", Contents: "<%= JSON.stringify(it.MachineCert()) %>\n" }],
      },
    });
    expect(env.status).toBe(201);
    m3 = await newMachine("cert-m3", "127.0.0.3");
    expect((await s.call("PATCH", `/api/v3/machines/${m3}`, { body: [{ op: "replace", path: "/BootEnv", value: "identity-test" }], type: "application/json-patch+json" })).status).toBe(200);
  });

  test("the machine gets a key and certificate that work on the client-certificate port; the record keeps no key", async () => {
    const r = await curlFrom("127.0.0.3", `machines/${m3}/identity.json`);
    const nl = r.out.lastIndexOf("\n");
    expect(r.out.slice(nl + 1)).toBe("200");
    const id = JSON.parse(r.out.slice(0, nl)) as { Cert: string; Key: string; Ca: string };
    expect(id.Key).toContain("PRIVATE KEY");
    expect(id.Ca).toBe(s.socle.caCertPem);
    const crt = join(work, "m3.crt");
    const key = join(work, "m3.key");
    writeFileSync(crt, id.Cert);
    writeFileSync(key, id.Key, { mode: 0o600 });
    const own = await mtls(`/api/v3/machines/${m3}`, { crt, key });
    expect(own.status).toBe(200);
    expect(JSON.parse(own.body).Uuid).toBe(m3);
    const record = readFileSync(join(s.dir, "pki", "machine-certs.json"), "utf8");
    expect(record).toContain(m3);
    expect(record).not.toContain("PRIVATE KEY");
    expect(s.lines.join("\n")).not.toContain(id.Key.split("\n")[1]!);
    // Each render issues a new one.
    const again = await curlFrom("127.0.0.3", `machines/${m3}/identity.json`);
    expect(again.out).not.toContain(id.Cert.split("\n")[2]!);
  });

  test("attacker with a copied boot-file certificate: it signs no CSR and is revoked once the machine's own CSR is signed", async () => {
    const r = await curlFrom("127.0.0.3", `machines/${m3}/identity.json`);
    const id = JSON.parse(r.out.slice(0, r.out.lastIndexOf("\n"))) as { Cert: string; Key: string };
    const crt = join(work, "copied.crt");
    const key = join(work, "copied.key");
    writeFileSync(crt, id.Cert);
    writeFileSync(key, id.Key, { mode: 0o600 });
    expect((await mtls(`/api/v3/machines/${m3}`, { crt, key })).status).toBe(200);
    // Renewing itself for ever: refused (a boot file's certificate is worth a plain token).
    const csrKey = join(work, "thief.key");
    const csr = (await run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", csrKey, "-subj", "/CN=thief"])).out;
    const renew = await mtls(`/api/v3/machines/${m3}/csr`, { crt, key }, { method: "POST", data: csr });
    expect(renew.status).toBe(403);
    expect(renew.body).toContain("plain machine token");
    // The machine's own CSR (here signed for an operator) supersedes every boot-file certificate.
    const own = await s.call("POST", `/api/v3/machines/${m3}/csr`, { raw: csr, type: "application/x-pem-file" });
    expect(own.status).toBe(201);
    expect((await mtls(`/api/v3/machines/${m3}`, { crt, key })).status).toBe(401);
  });

  test("another address gets no certificate, and a preview never issues one", async () => {
    const before = readFileSync(join(s.dir, "pki", "machine-certs.json"), "utf8");
    const other = await curlFrom("127.0.0.1", `machines/${m3}/identity.json`);
    expect(other.out).not.toContain("PRIVATE KEY");
    const preview = await s.call("POST", "/api/v3/render", { body: { Machine: m3, Contents: "<%= it.MachineCert().Key %>" } });
    expect(preview.status).toBe(200);
    expect(JSON.stringify(preview.body)).toContain("MACHINE-CERT-WITHHELD-IN-PREVIEW");
    expect(JSON.stringify(preview.body)).not.toContain("PRIVATE KEY");
    expect(readFileSync(join(s.dir, "pki", "machine-certs.json"), "utf8")).toBe(before);
  });
});
