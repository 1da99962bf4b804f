// The installers' last call to the API (common-boot-local-cmd.tmpl, run by kickstart, preseed,
// autoinstall, Ignition units) checks the server by its pinned public key (it.ApiPin) instead of
// trusting any server (the shipped templates used `curl --insecure` alone). The rendered command
// is run for real with curl: against this server it switches the machine to local; with the pin
// of another key curl refuses before it sends the token, and nothing changes.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestSocle, type TestSocle } from "../helpers/socle.ts";

const CURL = Bun.which("curl");
const BASH = Bun.which("bash");
let s: TestSocle;
let uuid = "";

beforeAll(async () => {
  s = await startTestSocle();
  uuid = (await s.call("POST", "/api/v3/machines", { body: { Name: "pinned", HardwareAddrs: ["52:54:00:9a:00:01"], BootEnv: "discovery" } })).body.Uuid;
});
afterAll(() => s?.stop());

async function rendered(): Promise<string> {
  const r = await s.call("POST", "/api/v3/render", { body: { Machine: uuid, Template: "common-boot-local-cmd.tmpl" } });
  expect(r.status).toBe(200);
  return String(r.body.Output).trim();
}

async function run(cmd: string): Promise<number> {
  const p = Bun.spawn([BASH!, "-c", cmd], { stdout: "ignore", stderr: "pipe" });
  return p.exited;
}

test.skipIf(!CURL || !BASH)("the rendered command carries this server's key pin, and curl accepts this server with it", async () => {
  const cmd = await rendered();
  expect(cmd).toMatch(/--pinnedpubkey 'sha256\/\/[A-Za-z0-9+/]{43}=' /);
  expect(cmd).toContain(`https://127.0.0.1:${s.socle.apiPort}/api/v3/machines/${uuid}/boot-local`);
  expect(await run(cmd.replace("--retry 5 --retry-connrefused ", ""))).toBe(0);
  expect((await s.call("GET", `/api/v3/machines/${uuid}`)).body.BootEnv).toBe("local");
});

test.skipIf(!CURL || !BASH)("with another key's pin (a server that is not Socle) curl refuses before sending the token", async () => {
  await s.call("PATCH", `/api/v3/machines/${uuid}`, { type: "application/json-patch+json", body: [{ op: "replace", path: "/BootEnv", value: "discovery" }] });
  const cmd = (await rendered()).replace(/--pinnedpubkey 'sha256\/\/[^']+'/, "--pinnedpubkey 'sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='").replace("--retry 5 --retry-connrefused ", "");
  expect(await run(cmd)).toBe(90); // CURLE_SSL_PINNEDPUBKEYNOTMATCH
  expect((await s.call("GET", `/api/v3/machines/${uuid}`)).body.BootEnv).toBe("discovery");
});
