// Finding 8 (issue 8): the shipped templates called the API with `curl --insecure`, trusting any
// server on the provisioning network. Now the installers' last call to the API
// (common-boot-local-cmd.tmpl, run by kickstart, preseed, autoinstall, Ignition units) checks the
// server twice: its certificate must chain to Socle's CA, which the installer first writes to
// /etc/socle/ca.pem from it.CaCert (common-ca-cmd.tmpl), and its public key must match it.ApiPin.
// Both arrive with the file that carries the command, through the boot chain.
// The rendered commands are run for real, with sh and curl, in a scratch directory instead of
// /etc/socle: against this server they switch the machine to local; against a server with
// another CA, or with the pin of another key, curl refuses before it sends the token, and
// nothing changes.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePki } from "../../src/pki/pki.ts";
import { nullLogger } from "../../src/log/logger.ts";
import { startTestSocle, type TestSocle } from "../helpers/socle.ts";

const CURL = Bun.which("curl");
const SH = Bun.which("sh");
const BUSYBOX = Bun.which("busybox");
let s: TestSocle;
let uuid = "";
let scratch = "";

beforeAll(async () => {
  s = await startTestSocle();
  scratch = await mkdtemp(join(tmpdir(), "socle-trust-"));
  uuid = (await s.call("POST", "/api/v3/machines", { body: { Name: "trusting", HardwareAddrs: ["52:54:00:9a:00:01"], BootEnv: "discovery" } })).body.Uuid;
});
afterAll(async () => {
  await s?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A template rendered for the machine, with /etc/socle moved to `dir`, and curl's retries off. */
async function rendered(template: string, dir: string): Promise<string> {
  const r = await s.call("POST", "/api/v3/render", { body: { Machine: uuid, Template: template } });
  expect(r.status).toBe(200);
  return String(r.body.Output).trim().replaceAll("/etc/socle", dir).replace("--retry 5 --retry-connrefused ", "");
}

async function run(shell: string[], cmd: string): Promise<number> {
  const p = Bun.spawn([...shell, cmd], { stdout: "ignore", stderr: "pipe" });
  return p.exited;
}

async function bootEnv(): Promise<string> {
  return (await s.call("GET", `/api/v3/machines/${uuid}`)).body.BootEnv;
}

async function resetToDiscovery(): Promise<void> {
  await s.call("PATCH", `/api/v3/machines/${uuid}`, { type: "application/json-patch+json", body: [{ op: "replace", path: "/BootEnv", value: "discovery" }] });
}

test.skipIf(!SH)("the CA command writes exactly this server's CA, with sh and with busybox sh", async () => {
  const ca = await readFile(join(s.dir, "pki", "ca.pem"), "utf8");
  for (const shell of [[SH!, "-c"], ...(BUSYBOX ? [[BUSYBOX, "sh", "-c"]] : [])]) {
    const dir = await mkdtemp(join(scratch, "ca-"));
    const cmd = await rendered("common-ca-cmd.tmpl", dir);
    expect(cmd).not.toContain("\n"); // one line: preseed's late_command and YAML lists take it as is
    expect(await run(shell, cmd)).toBe(0);
    expect(await readFile(join(dir, "ca.pem"), "utf8")).toBe(ca.replace(/\r/g, "").trim() + "\n");
  }
});

test.skipIf(!CURL || !SH)("the rendered command checks the CA and the pin and switches this machine to local", async () => {
  const dir = await mkdtemp(join(scratch, "ok-"));
  const cmd = await rendered("common-boot-local-cmd.tmpl", dir);
  expect(cmd).not.toContain("--insecure");
  expect(cmd).toContain(`--cacert ${dir}/ca.pem `);
  expect(cmd).toMatch(/--pinnedpubkey 'sha256\/\/[A-Za-z0-9+/]{43}=' /);
  expect(cmd).toContain(`https://127.0.0.1:${s.socle.apiPort}/api/v3/machines/${uuid}/boot-local`);
  expect(await run([SH!, "-c"], `${await rendered("common-ca-cmd.tmpl", dir)} && ${cmd}`)).toBe(0);
  expect(await bootEnv()).toBe("local");
});

test.skipIf(!CURL || !SH)("a server whose certificate does not chain to Socle's CA is refused before the token is sent", async () => {
  await resetToDiscovery();
  // Another CA in the file (what an impostor's certificate would chain to): curl exits 60.
  const other = await ensurePki(join(scratch, "other-pki"), { log: nullLogger });
  const dir = await mkdtemp(join(scratch, "other-"));
  await Bun.write(join(dir, "ca.pem"), other.caCertPem);
  const cmd = await rendered("common-boot-local-cmd.tmpl", dir);
  expect(await run([SH!, "-c"], cmd)).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
  expect(await bootEnv()).toBe("discovery");
});

test.skipIf(!CURL || !SH)("with another key's pin (a server that is not this Socle) curl refuses before sending the token", async () => {
  await resetToDiscovery();
  const dir = await mkdtemp(join(scratch, "pin-"));
  const cmd = (await rendered("common-boot-local-cmd.tmpl", dir)).replace(/--pinnedpubkey 'sha256\/\/[^']+'/, "--pinnedpubkey 'sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='");
  expect(await run([SH!, "-c"], `${await rendered("common-ca-cmd.tmpl", dir)} && ${cmd}`)).toBe(90); // CURLE_SSL_PINNEDPUBKEYNOTMATCH
  expect(await bootEnv()).toBe("discovery");
});
