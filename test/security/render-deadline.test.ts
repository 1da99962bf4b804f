// Pins finding 7b of the machine-trust issue: "A busy-looping template stalls them too: rendering
// has no time limit."
//
// A Socle runs as a child process (so that a stalled server cannot stall this test's own clock),
// serving the API and HTTP boot files on 127.0.0.1. An admin saves a template whose code never
// ends, `<% while (true) {} %>`, and a boot environment that serves it as a machine's file. The
// template is rendered through POST /api/v3/render and through the HTTP boot file server for that
// machine: each ends with an error that names the template and the deadline, within the deadline
// and a margin. Meanwhile GET /api/v3/info, an HTTP boot file (default.ipxe) and another machine
// file (rendered too) each answer within 1 s; afterwards the server renders as before.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnServer, type ServerProcess } from "../helpers/process.ts";
import { ADMIN_PASSWORD, basic } from "../helpers/socle.ts";

const DEADLINE_MS = 2000; // the default (render-pool.ts DEFAULT_RENDER_DEADLINE_MS)
const MARGIN_MS = 1500;
const MAC = "52:54:00:7b:00:01";

let dir = "";
let srv: ServerProcess;
let ca = "";
let httpPort = 0;
let uuid = "";

const api = (path: string, init: RequestInit & { timeoutMs?: number } = {}) =>
  fetch(`https://127.0.0.1:${srv.port}/api/v3${path}`, {
    ...init,
    headers: { Authorization: basic("admin", ADMIN_PASSWORD), "Content-Type": "application/json", ...(init.headers ?? {}) },
    tls: { ca },
    signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
  } as RequestInit);

const boot = (path: string, timeoutMs = 10_000) => fetch(`http://127.0.0.1:${httpPort}/${path}`, { signal: AbortSignal.timeout(timeoutMs) });

async function must(method: string, path: string, body: unknown): Promise<any> {
  const r = await api(path, { method, body: JSON.stringify(body) });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** How long `fn` takes, in ms, and what it gave. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** While a stuck render runs: the API, a static boot file and another rendered file each answer within 1 s. */
async function othersAnswer(): Promise<void> {
  const info = await timed(() => api("/info", { headers: {}, timeoutMs: 1000 }).then((r) => r.status));
  expect(info.value).toBe(200);
  expect(info.ms).toBeLessThan(1000);
  const dispatch = await timed(() => boot("default.ipxe", 1000).then((r) => r.text()));
  expect(dispatch.value).toStartWith("#!ipxe");
  expect(dispatch.ms).toBeLessThan(1000);
  const other = await timed(() => boot(`machines/${uuid}/ok.cfg`, 1000).then((r) => r.text()));
  expect(other.value).toBe("ok spin-1\n");
  expect(other.ms).toBeLessThan(1000);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "socle-deadline-"));
  srv = await spawnServer(
    ["--data-dir", dir, "--api-port", "0", "--api-listen", "127.0.0.1", "--disable-dhcp", "--disable-binl", "--disable-tftp", "--static-port", "0", "--static-listen", "127.0.0.1", "--address", "127.0.0.1"],
    { SOCLE_ADMIN_PASSWORD: ADMIN_PASSWORD },
  );
  ca = await readFile(join(dir, "pki/ca.pem"), "utf8");
  for (let i = 0; i < 100 && !httpPort; i++) {
    const m = /HTTP boot file server listening.*?port=(\d+)/.exec(srv.output());
    if (m) httpPort = Number(m[1]);
    else await Bun.sleep(20);
  }
  expect(httpPort).toBeGreaterThan(0);
  await must("POST", "/templates", { ID: "loop.tmpl", Contents: "<% while (true) {} %>" });
  await must("POST", "/bootenvs", {
    Name: "spin",
    Templates: [
      { Name: "spin", Path: "machines/<%= it.Machine.Uuid %>/spin.cfg", ID: "loop.tmpl" },
      { Name: "ok", Path: "machines/<%= it.Machine.Uuid %>/ok.cfg", Contents: "ok <%= it.Machine.Name %>\n" },
    ],
  });
  // The machine's Address is where this test asks from: its files are bound to it.
  uuid = (await must("POST", "/machines", { Name: "spin-1", HardwareAddrs: [MAC], Address: "127.0.0.1", BootEnv: "spin" })).Uuid;
}, 30_000);

afterAll(async () => {
  srv?.proc.kill("SIGKILL");
  await srv?.proc.exited;
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a template that never ends", () => {
  test("POST /api/v3/render: 422 naming the template and the deadline, while the rest answers", async () => {
    const stuck = timed(() => api("/render", { method: "POST", body: JSON.stringify({ Machine: uuid, Template: "loop.tmpl" }), timeoutMs: DEADLINE_MS + MARGIN_MS }));
    await Bun.sleep(200);
    await othersAnswer();
    const { ms, value: r } = await stuck;
    expect(r.status).toBe(422);
    const body = (await r.json()) as { Messages: string[] };
    expect(body.Messages[0]).toBe(`template "loop.tmpl": rendering ran past the deadline of ${DEADLINE_MS} ms and was stopped (a loop, deep recursion or a runaway regular expression?)`);
    expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
  }, 20_000);

  test("the machine's file over HTTP: an error naming the template and the deadline, while the rest answers", async () => {
    const stuck = timed(() => boot(`machines/${uuid}/spin.cfg`, DEADLINE_MS + MARGIN_MS));
    await Bun.sleep(200);
    await othersAnswer();
    const { ms, value: r } = await stuck;
    expect(r.status).toBe(500);
    expect(await r.text()).toBe(
      `cannot produce "machines/${uuid}/spin.cfg": template "loop.tmpl": rendering ran past the deadline of ${DEADLINE_MS} ms and was stopped (a loop, deep recursion or a runaway regular expression?)\n`,
    );
    expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(ms).toBeLessThan(DEADLINE_MS + MARGIN_MS);
    expect(srv.output()).toContain("template render stopped at its deadline");
  }, 20_000);

  test("afterwards, templates render as before", async () => {
    const r = await timed(() => boot(`machines/${uuid}/ok.cfg`, 1000).then((x) => x.text()));
    expect(r.value).toBe("ok spin-1\n");
    const preview = await must("POST", "/render", { Machine: uuid, Contents: "<%= it.Machine.Name %> <%= 6 * 7 %>" });
    expect(preview.Output).toBe("spin-1 42");
  });
});
