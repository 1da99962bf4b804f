// Users' tokens and passwords, and machine tokens.
//
// `GET /users/<name>/token?roles=a,b` narrows a token to some of the user's roles. A role the
// user does not hold is refused (400, naming it) rather than silently granting nothing, so that a
// typo does not hand out a token that looks right and fails later. A token that was itself
// narrowed passes its narrowing on: the tokens it gets for its own user are narrowed at least as
// much (403 for a role beyond it), and it may not change its user's password without the claim,
// since a new password is the whole account.

import type { Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import type { Context } from "hono";
import { type ApiEnv, principalOf, requireClaim, requireSelfOr, secureAccess, visibleObject } from "./access.ts";
import { intParam, json, readJson } from "./http-util.ts";
import { SocleError, badRequest, invalid } from "../model/errors.ts";
import { generateSecret } from "../auth/passwords.ts";
import { narrowRoles } from "../auth/claims.ts";
import type { ModelObject } from "../model/object.ts";
import { hashChecked } from "./input-hooks.ts";

export function userRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { objects, authn, prefs } = deps;

  const ttlOf = (c: Parameters<typeof intParam>[0], model: string, fallbackPref: string) => {
    const ttl = intParam(c, "ttl", model, prefs.tokenTtl(fallbackPref), prefs.tokenTtl("maxTokenTtl"));
    if (ttl === 0) throw invalid(model, "", `ttl: must be at least 1 second`);
    return ttl;
  };


  /** The user named in the path, after the self-or-claim check for `action`. */
  const selfOr = (c: Context<ApiEnv>, action: "token" | "password") => {
    const user = objects.get("users", c.req.param("key")!);
    const name = String(user.Name);
    const p = principalOf(c);
    if (action === "password" && p.roles !== undefined) requireClaim(c, "users", action, name);
    else requireSelfOr(c, "users", action, name);
    return { user, name };
  };

  /** The roles a new token for `user` is narrowed to; undefined: all of them. */
  const narrowing = (c: Context<ApiEnv>, user: ModelObject, name: string): string[] | undefined => {
    const p = principalOf(c);
    const within = p.kind === "user" && p.name === name ? p.roles : undefined;
    const values = c.req.queries("roles");
    if (values === undefined) return within;
    const held = Array.isArray(user.Roles) ? (user.Roles as string[]) : [];
    const { roles, problems, beyond } = narrowRoles(name, values, held, within);
    if (problems.length > 0) throw badRequest("users", name, problems);
    if (beyond.length > 0) {
      throw new SocleError(
        "Forbidden",
        "users",
        name,
        beyond.map((r) => `a token narrowed to roles ${JSON.stringify(within)} may not get a token for role "${r}"`),
      );
    }
    return roles;
  };

  const tokenBody = (who: Record<string, unknown>, t: { token: string; expiresAt: number; claims: unknown }, ttl: number) =>
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
    const roles = narrowing(c, user, name);
    return tokenBody({ User: name, ...(roles !== undefined ? { Roles: roles } : {}) }, authn.tokenForUser(user, ttl, roles), ttl);
  });

  app.post("/api/v3/users/:key/revoke", async (c) => {
    const { user, name } = selfOr(c, "token");
    await objects.save("users", { ...user, Secret: generateSecret() });
    return json(objects.redact(objects.def("users"), objects.get("users", name)));
  });

  // The one BootEnv change a machine makes itself (its token may not write BootEnv:
  // machine-scope.ts): to `local`, as the last step of an install, so that the reboot boots the new
  // disk. It can only end network installs, never start one or choose what a machine boots. The
  // shipped installer templates call it; operators may too (machines update).
  // It is a server write, so it is allowed while a Workflow is set (whose BootEnv is otherwise
  // read-only): an install stage ends this way. The machine is then not Runnable until its agent
  // reports from `local`, the installed system, where the workflow goes on.
  app.post("/api/v3/machines/:key/boot-local", async (c) => {
    const machine = visibleObject(c, objects, "machines", c.req.param("key"));
    const uuid = String(machine.Uuid);
    const p = requireClaim(c, "machines", "update", uuid);
    const saved = await objects.update("machines", uuid, (m) => ({ ...m, BootEnv: "local" }));
    return json(objects.redact(objects.def("machines"), saved, secureAccess(p)));
  });

  // A machine token for a machine: for an operator with the `token` claim (lifetime ?ttl=, by
  // default knownTokenTimeout), and for the machine itself, which renews its own: the installed
  // agent asks before half its token's life is gone (lifetime agentTokenTimeout, or a shorter
  // ?ttl=). Socle-Token and Socle-Token-Ttl repeat the token and its lifetime for a shell client.
  app.get("/api/v3/machines/:key/token", (c) => {
    const machine = visibleObject(c, objects, "machines", c.req.param("key"));
    const uuid = String(machine.Uuid);
    const p = principalOf(c);
    const self = p.kind === "machine" && p.name === uuid;
    if (!self) requireClaim(c, "machines", "token", uuid);
    const agentTtl = Number(prefs.value("agentTokenTimeout")) || 2592000;
    const ttl = self ? intParam(c, "ttl", "machines", agentTtl, agentTtl) : ttlOf(c, "machines", "knownTokenTimeout");
    if (ttl === 0) throw invalid("machines", uuid, "ttl: must be at least 1 second");
    const t = authn.tokenForMachine(machine, ttl);
    const res = tokenBody({ Machine: uuid }, t, ttl);
    res.headers.set("Socle-Token", t.token);
    res.headers.set("Socle-Token-Ttl", String(ttl));
    return res;
  });

  // Ends every token issued for this machine (its Secret changes): a machine that left the
  // rack, or whose installed system's agent token is in the wrong hands. A new token comes from
  // GET .../token (operators) or a new install.
  app.post("/api/v3/machines/:key/revoke", async (c) => {
    const machine = visibleObject(c, objects, "machines", c.req.param("key"));
    const uuid = String(machine.Uuid);
    const p = requireClaim(c, "machines", "update", uuid);
    const saved = await objects.update("machines", uuid, (m) => ({ ...m, Secret: generateSecret() }));
    return json(objects.redact(objects.def("machines"), saved, secureAccess(p)));
  });
}
