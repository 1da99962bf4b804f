// Pins finding 8 of the machine-trust issue, its part: "TLS 1.2 accepts static-RSA suites, with no
// forward secrecy".
//
// A real peer: openssl s_client offers exactly one TLS 1.2 suite to the API port of a running
// Socle. The static-RSA suites (RSA key exchange: whoever gets the server key later decrypts every
// recorded session) must fail the handshake; the ECDHE ones, and TLS 1.3, must work. Note that
// AES128-SHA256 was already refused before the fix (BoringSSL's default omits it); the GCM and
// CBC-SHA1 static-RSA suites below were not.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestSocle, type TestSocle } from "../helpers/socle.ts";

let s: TestSocle;
beforeAll(async () => {
  if (!Bun.which("openssl")) throw new Error("openssl is needed for this test (apt-get install openssl)");
  s = await startTestSocle();
});
afterAll(async () => {
  await s.stop();
});

/** The cipher negotiated with only `args` offered, or "" when the handshake failed. */
async function negotiate(args: string[]): Promise<string> {
  const p = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${s.socle.apiPort}`, "-servername", "localhost", ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill(), 10_000);
  const [out] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  const m = /Cipher is (\S+)/.exec(out);
  return m && m[1] !== "(NONE)" ? m[1]! : "";
}

const STATIC_RSA = ["AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA", "AES128-SHA256", "AES256-SHA256"];

test("every static-RSA TLS 1.2 suite fails the handshake", async () => {
  const accepted: string[] = [];
  for (const suite of STATIC_RSA) if ((await negotiate(["-tls1_2", "-cipher", suite])) !== "") accepted.push(suite);
  expect(accepted).toEqual([]);
});

test("ECDHE TLS 1.2 suites and TLS 1.3 work", async () => {
  for (const suite of ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"]) {
    expect(await negotiate(["-tls1_2", "-cipher", suite])).toBe(suite);
  }
  expect(await negotiate(["-tls1_3"])).toMatch(/^TLS_/);
  // And a default client (the CLI, curl) still talks to the API.
  expect((await s.call("GET", "/api/v3/info")).status).toBe(200);
});

test("whatever a client offers, TLS 1.2 settles on forward secrecy", async () => {
  expect(await negotiate(["-tls1_2", "-cipher", "ALL:@SECLEVEL=0"])).toStartWith("ECDHE-");
});
