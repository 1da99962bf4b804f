// Authentication and authorisation over real HTTPS.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_PASSWORD, API_ONLY, basic, startTestSocle, type TestSocle } from "./helpers/socle.ts";
import { parseServeConfig } from "../src/config/serve-config.ts";
import { startSocle } from "../src/main.ts";
import { createLogger } from "../src/log/logger.ts";

let s: TestSocle;
beforeAll(async () => {
  s = await startTestSocle();
});
afterAll(async () => {
  await s.stop();
});

describe("authentication", () => {
  test("every route but info answers 401 JSON without credentials", async () => {
    for (const path of ["/api/v3/machines", "/api/v3/prefs", "/api/v3/openapi.json", "/api/v3/users/admin/token", "/api/v3/events"]) {
      const r = await s.call("GET", path, { auth: null });
      expect(r.status).toBe(401);
      expect(r.body.Type).toBe("Unauthorized");
      expect(r.headers.get("www-authenticate")).toContain("Basic");
    }
  });

  test("malformed and wrong credentials are 401 and never echoed", async () => {
    const bad = await s.call("GET", "/api/v3/machines", { auth: "Basic !!!notbase64" });
    expect([400, 401]).toContain(bad.status);
    const wrong = await s.call("GET", "/api/v3/machines", { auth: basic("admin", "wrong-password-123") });
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.body)).not.toContain("wrong-password-123");
    expect(s.lines.join("\n")).not.toContain("wrong-password-123");
    expect(s.lines.join("\n")).not.toContain(ADMIN_PASSWORD);
  });

  test("repeated failed logins are slowed down (429 with Retry-After)", async () => {
    let limited: Response | undefined;
    for (let i = 0; i < 12 && !limited; i++) {
      const r = await s.req("GET", "/api/v3/machines", { auth: basic("mallory", `guess-${i}-xxxx`) });
      if (r.status === 429) limited = r;
      else expect(r.status).toBe(401);
    }
    expect(limited).toBeDefined();
    expect(limited!.headers.get("retry-after")).toBeTruthy();
  });

  test("tokens: issue, use, expire bounds, revoke by rotating the secret", async () => {
    const t = await s.call("GET", "/api/v3/users/admin/token?ttl=600");
    expect(t.status).toBe(200);
    expect(t.body.Info.Ttl).toBe(600);
    const bearer = `Bearer ${t.body.Token}`;
    expect((await s.call("GET", "/api/v3/machines", { auth: bearer })).status).toBe(200);
    expect((await s.call("GET", "/api/v3/users/admin/token?ttl=abc")).status).toBe(400);
    expect((await s.call("GET", "/api/v3/users/admin/token?ttl=99999999")).status).toBe(400);
    expect((await s.call("POST", "/api/v3/users/admin/revoke", { raw: "{}" })).status).toBe(200);
    const after = await s.call("GET", "/api/v3/machines", { auth: bearer });
    expect(after.status).toBe(401);
    expect(JSON.stringify(after.body)).not.toContain(t.body.Token);
    const tampered = t.body.Token.slice(0, -2) + (t.body.Token.endsWith("A") ? "BB" : "AA");
    expect((await s.call("GET", "/api/v3/machines", { auth: `Bearer ${tampered}` })).status).toBe(401);
  });
});

describe("authorisation", () => {
  test("a user without claims is 403; a role grants exactly its claims", async () => {
    expect((await s.call("POST", "/api/v3/roles", { body: { Name: "machine-reader", Claims: [{ Scope: "machines", Action: "list,get", Specific: "*" }] } })).status).toBe(201);
    expect((await s.call("POST", "/api/v3/users", { body: { Name: "ops", Password: "ops-password-1", Roles: [] } })).status).toBe(201);
    const ops = basic("ops", "ops-password-1");
    const denied = await s.call("GET", "/api/v3/machines", { auth: ops });
    expect(denied.status).toBe(403);
    expect(denied.body.Messages[0]).toContain("ops");
    const u = (await s.call("GET", "/api/v3/users/ops")).body;
    expect(u.PasswordHash).toBeUndefined();
    expect(u.Secret).toBeUndefined();
    expect((await s.call("PUT", "/api/v3/users/ops", { body: { ...u, Roles: ["machine-reader"] } })).status).toBe(200);
    expect((await s.call("GET", "/api/v3/machines", { auth: ops })).status).toBe(200);
    expect((await s.call("POST", "/api/v3/machines", { auth: ops, body: { Name: "nope" } })).status).toBe(403);
    expect((await s.call("GET", "/api/v3/prefs", { auth: ops })).status).toBe(403);
    // Self-service: own token and own password without a claim.
    expect((await s.call("GET", "/api/v3/users/ops/token", { auth: ops })).status).toBe(200);
    expect((await s.call("GET", "/api/v3/users/admin/token", { auth: ops })).status).toBe(403);
    expect((await s.call("POST", "/api/v3/users/ops/password", { auth: ops, body: { Password: "short" } })).status).toBe(422);
    expect((await s.call("POST", "/api/v3/users/ops/password", { auth: ops, body: { Password: "ops-password-2" } })).status).toBe(200);
    expect((await s.call("GET", "/api/v3/machines", { auth: ops })).status).toBe(401);
    expect((await s.call("GET", "/api/v3/machines", { auth: basic("ops", "ops-password-2") })).status).toBe(200);
  });

  test("clients may not set password hashes or secrets directly", async () => {
    const r = await s.call("POST", "/api/v3/users", { body: { Name: "sneaky", PasswordHash: "$argon2id$..." } });
    expect(r.status).toBe(422);
    expect(r.body.Messages.join()).toContain("PasswordHash");
  });

  test("a machine token reads and updates only its own machine, and of it only its allowlist", async () => {
    const a = (await s.call("POST", "/api/v3/machines", { body: { Name: "self-a" } })).body;
    const b = (await s.call("POST", "/api/v3/machines", { body: { Name: "self-b" } })).body;
    const t = await s.call("GET", `/api/v3/machines/${a.Uuid}/token`);
    expect(t.status).toBe(200);
    const auth = `Bearer ${t.body.Token}`;
    expect((await s.call("GET", `/api/v3/machines/${a.Uuid}`, { auth })).status).toBe(200);
    expect((await s.call("GET", `/api/v3/machines/${a.Uuid}/params`, { auth })).status).toBe(200);
    const patched = await s.call("PATCH", `/api/v3/machines/${a.Uuid}`, { auth, type: "application/json-patch+json", body: [{ op: "add", path: "/Params/inventory", value: { CPUs: 2 } }] });
    expect(patched.status).toBe(200);
    expect(patched.body.Params.inventory).toEqual({ CPUs: 2 });
    const described = await s.call("PATCH", `/api/v3/machines/${a.Uuid}`, { auth, type: "application/json-patch+json", body: [{ op: "add", path: "/Description", value: "hello" }] });
    expect(described.status).toBe(403);
    expect(described.body.Messages[0]).toContain("may not change Description");
    expect((await s.call("GET", `/api/v3/machines/${b.Uuid}`, { auth })).status).toBe(404); // another machine is not there, to it (access.ts visibleObject)
    expect((await s.call("GET", "/api/v3/machines", { auth })).status).toBe(403);
    expect((await s.call("DELETE", `/api/v3/machines/${a.Uuid}`, { auth })).status).toBe(403);
    expect((await s.call("GET", "/api/v3/users", { auth })).status).toBe(403);
  });
});

describe("first start without SOCLE_ADMIN_PASSWORD", () => {
  test("a random admin password is written once, mode 0600, and announced without the password", async () => {
    const dir = await mkdtemp(join(tmpdir(), "socle-admin-"));
    const lines: string[] = [];
    const log = createLogger({ sink: (l) => lines.push(l) });
    const cfg = parseServeConfig(["--data-dir", dir, "--api-port", "0", "--api-listen", "127.0.0.1", ...API_ONLY], {}, { compiled: false });
    const socle = await startSocle(cfg, { log });
    try {
      const file = join(dir, "initial-admin-password");
      const password = (await readFile(file, "utf8")).trim();
      expect(password.length).toBeGreaterThanOrEqual(20);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(lines.filter((l) => l.includes("initial-admin-password")).length).toBe(1);
      expect(lines.join("\n")).not.toContain(password);
      const r = await fetch(`https://127.0.0.1:${socle.apiPort}/api/v3/machines`, {
        headers: { Authorization: basic("admin", password) },
        tls: { ca: socle.caCertPem },
      } as RequestInit);
      expect(r.status).toBe(200);
    } finally {
      await socle.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
