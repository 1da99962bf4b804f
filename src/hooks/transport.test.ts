// What the sender relies on in Bun's fetch, measured: a request to the checked IP keeps the URL's
// name for the certificate check and the Host header, ignores HTTP_PROXY, and follows no redirect.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { postPinned } from "./transport.ts";

const OPENSSL = Bun.which("openssl");
let dir = "";
let cert = "";
let key = "";

beforeAll(async () => {
  if (!OPENSSL) return;
  dir = await mkdtemp(join(tmpdir(), "socle-transport-"));
  const r = Bun.spawnSync([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-days", "1", "-subj", "/CN=hooks.example.test", "-addext", "subjectAltName=DNS:hooks.example.test"]);
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
  cert = await readFile(join(dir, "c.pem"), "utf8");
  key = await readFile(join(dir, "k.pem"), "utf8");
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const base = { body: "{}", headers: { "Content-Type": "application/json" }, timeoutMs: 5000, signal: new AbortController().signal };

test.skipIf(!OPENSSL)("https to the checked IP: the certificate is checked against the URL's name, Host is the URL's host", async () => {
  const seen: string[] = [];
  const srv = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert, key }, fetch: (r) => (seen.push(r.headers.get("host") ?? ""), new Response("ok")) });
  try {
    const good = await postPinned({ ...base, url: new URL(`https://hooks.example.test:${srv.port}/in`), address: "127.0.0.1", ca: cert });
    expect(good).toMatchObject({ ok: true, status: 200 });
    expect(seen).toEqual([`hooks.example.test:${srv.port}`]);
    // The same server reached under a name its certificate does not carry: refused by TLS.
    const other = await postPinned({ ...base, url: new URL(`https://evil.example.test:${srv.port}/in`), address: "127.0.0.1", ca: cert });
    expect(other.ok).toBe(false);
    expect(!other.ok && other.error).toContain("ALTNAME");
    expect(seen.length).toBe(1);
  } finally {
    srv.stop(true);
  }
});

test("HTTP_PROXY in the environment is not used; a 302 is returned, not followed; a timeout says so", async () => {
  const proxyHits: string[] = [];
  const proxy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (r) => (proxyHits.push(r.url), new Response("via proxy")) });
  let hits = 0;
  const target = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (r) => {
      hits++;
      if (new URL(r.url).pathname === "/slow") await Bun.sleep(1500);
      return new URL(r.url).pathname === "/moved" ? new Response("", { status: 302, headers: { Location: "http://127.0.0.1:1/" } }) : new Response("ok");
    },
  });
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy };
  process.env.HTTP_PROXY = process.env.http_proxy = `http://127.0.0.1:${proxy.port}`;
  try {
    const url = new URL(`http://127.0.0.1:${target.port}/in`);
    expect(await postPinned({ ...base, url, address: "127.0.0.1" })).toMatchObject({ ok: true, status: 200 });
    expect(proxyHits).toEqual([]);
    expect(await postPinned({ ...base, url: new URL(`http://127.0.0.1:${target.port}/moved`), address: "127.0.0.1" })).toMatchObject({ ok: true, status: 302 });
    const slow = await postPinned({ ...base, timeoutMs: 300, url: new URL(`http://127.0.0.1:${target.port}/slow`), address: "127.0.0.1" });
    expect(slow).toMatchObject({ ok: false, timeout: true, aborted: false });
    const stop = new AbortController();
    stop.abort();
    expect(await postPinned({ ...base, signal: stop.signal, url, address: "127.0.0.1" })).toMatchObject({ ok: false, aborted: true });
    expect(hits).toBe(3);
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
    proxy.stop(true);
    target.stop(true);
  }
});
