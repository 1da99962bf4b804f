// Restart, persistence, single writer and start-up errors of the whole server.

import { expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_ONLY, startTestSocle } from "./helpers/socle.ts";
import { parseServeConfig } from "../src/config/serve-config.ts";
import { startSocle } from "../src/main.ts";
import { nullLogger } from "../src/log/logger.ts";

test("objects, prefs, users and the CA survive a restart", async () => {
  const s = await startTestSocle();
  try {
    const m = (await s.call("POST", "/api/v3/machines", { body: { Name: "persist" } })).body;
    await s.call("POST", "/api/v3/prefs", { body: { unknownBootEnv: "ignore" } });
    const ca = s.socle.caCertPem;
    await s.restart();
    expect(s.socle.caCertPem).toBe(ca);
    expect((await s.call("GET", `/api/v3/machines/${m.Uuid}`)).body.Name).toBe("persist");
    expect((await s.call("GET", "/api/v3/prefs")).body.unknownBootEnv).toBe("ignore");
    expect((await s.call("GET", "/api/v3/users")).body.map((u: any) => u.Name)).toEqual(["admin"]);
  } finally {
    await s.stop();
  }
});

test("a second server on the same data directory refuses to start", async () => {
  const s = await startTestSocle();
  try {
    const cfg = parseServeConfig(["--data-dir", s.dir, "--api-port", "0", "--api-listen", "127.0.0.1", ...API_ONLY], {}, { compiled: false });
    const err = await startSocle(cfg, { log: nullLogger }).then(() => undefined, (e: Error) => e);
    expect(err).toBeDefined();
    expect(err!.message).toContain(s.dir);
  } finally {
    await s.stop();
  }
});

test("a port in use is one clear error naming the flag", async () => {
  const s = await startTestSocle();
  const dir = await mkdtemp(join(tmpdir(), "socle-port-"));
  try {
    const cfg = parseServeConfig(["--data-dir", dir, "--api-port", String(s.socle.apiPort), "--api-listen", "127.0.0.1", ...API_ONLY], { SOCLE_ADMIN_PASSWORD: "password-123" }, { compiled: false });
    const err = await startSocle(cfg, { log: nullLogger }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toContain("--api-port");
    expect(err?.message).toContain(String(s.socle.apiPort));
    // The failed start released its lock: a later start on that directory works.
    const ok = await startSocle(parseServeConfig(["--data-dir", dir, "--api-port", "0", "--api-listen", "127.0.0.1", ...API_ONLY], {}, { compiled: false }), { log: nullLogger });
    await ok.stop();
  } finally {
    await s.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
