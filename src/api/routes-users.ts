// Users' tokens and passwords, and machine tokens.

import type { Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, requireClaim, requireSelfOr } from "./access.ts";
import { intParam, json, readJson } from "./http-util.ts";
import { invalid } from "../model/errors.ts";
import { generateSecret } from "../auth/passwords.ts";
import { hashChecked } from "./input-hooks.ts";

export function userRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { objects, authn, prefs } = deps;

  const ttlOf = (c: Parameters<typeof intParam>[0], model: string, fallbackPref: string) => {
    const max = Number(prefs.value("maxTokenTtl")) || 86_400;
    const fallback = Math.min(Number(prefs.value(fallbackPref)) || 3600, max);
    const ttl = intParam(c, "ttl", model, fallback, max);
    if (ttl === 0) throw invalid(model, "", `ttl: must be at least 1 second`);
    return ttl;
  };


  /** The user named in the path, after the self-or-claim check for `action`. */
  const selfOr = (c: Parameters<typeof requireSelfOr>[0], action: "token" | "password") => {
    const user = objects.get("users", c.req.param("key")!);
    const name = String(user.Name);
    requireSelfOr(c, "users", action, name);
    return { user, name };
  };
  const tokenBody = (who: Record<string, string>, t: { token: string; expiresAt: number; claims: unknown }, ttl: number) =>
    json({ Token: t.token, Info: { ...who, Expires: new Date(t.expiresAt).toISOString(), Ttl: ttl, Claims: t.claims } });

  app.post("/api/v3/users/:key/password", async (c) => {
    const { user, name } = selfOr(c, "password");
    const body = await readJson(c, { model: "users", key: name, limit: 64 * 1024 });
    const password = (body as { Password?: unknown } | null)?.Password;
    const hash = await hashChecked(name, password);
    // A new password also rotates the Secret: every token issued before it stops working.
    await objects.save("users", { ...user, PasswordHash: hash, Secret: generateSecret() });
    authn.forget();
    return json(objects.redact(objects.def("users"), objects.get("users", name)));
  });

  app.get("/api/v3/users/:key/token", (c) => {
    const { user, name } = selfOr(c, "token");
    const ttl = ttlOf(c, "users", "userTokenTimeout");
    return tokenBody({ User: name }, authn.tokenForUser(user, ttl), ttl);
  });

  app.post("/api/v3/users/:key/revoke", async (c) => {
    const { user, name } = selfOr(c, "token");
    await objects.save("users", { ...user, Secret: generateSecret() });
    return json(objects.redact(objects.def("users"), objects.get("users", name)));
  });

  app.get("/api/v3/machines/:key/token", (c) => {
    const machine = objects.get("machines", c.req.param("key"));
    const uuid = String(machine.Uuid);
    requireClaim(c, "machines", "token", uuid);
    const ttl = ttlOf(c, "machines", "knownTokenTimeout");
    return tokenBody({ Machine: uuid }, authn.tokenForMachine(machine, ttl), ttl);
  });
}
