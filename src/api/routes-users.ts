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
import { clientAddress, intParam, json, readJson } from "./http-util.ts";
import { SocleError, badRequest, conflict, invalid } from "../model/errors.ts";
import { generateSecret } from "../auth/passwords.ts";
import { narrowRoles } from "../auth/claims.ts";
import { fieldString, fieldStrings, type ModelObject } from "../model/object.ts";
import { quote } from "../model/validate.ts";
import { mayTakeToken, remoteIPv4 } from "./routes-register.ts";
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
  // While a Workflow is set (whose BootEnv is otherwise read-only) it ends an install stage, and
  // only that: right after the workflow switched the machine into the environment it is in (its
  // current step is that bootenv: switch, no task of the stage has run). The machine is then not
  // Runnable until its agent reports from `local`, the installed system, where the workflow goes on.
  app.post("/api/v3/machines/:key/boot-local", async (c) => {
    const machine = visibleObject(c, objects, "machines", c.req.param("key"));
    const uuid = String(machine.Uuid);
    const p = requireClaim(c, "machines", "update", uuid);
    const saved = await objects.update("machines", uuid, (m) => {
      const problem = bootLocalProblem(m);
      if (problem) throw conflict("machines", uuid, problem);
      return { ...m, BootEnv: "local" };
    });
    return json(objects.redact(objects.def("machines"), saved, secureAccess(p)));
  });

  // A machine token: for an operator with the `token` claim (lifetime ?ttl=, by default
  // knownTokenTimeout, at most maxTokenTtl), and for the machine itself, its agent's token
  // (agentTokenTimeout, or a shorter ?ttl=):
  // - an agent's token gets its successor, from anywhere: the agent renews at half its lifetime;
  // - a plain machine token (what boot files and installers carry: short-lived, over plain HTTP)
  //   gets it only from the machine's own address (its Address or a lease of one of its MACs, as
  //   for its files; the bindMachineFiles pref "false" lifts this): an installed system's agent
  //   trades the one its installer left, once, at its first start;
  // - a job's token gets none.
  // Socle-Token and Socle-Token-Ttl repeat the token and its lifetime for a shell client.
  app.get("/api/v3/machines/:key/token", (c) => {
    const machine = visibleObject(c, objects, "machines", c.req.param("key"));
    const uuid = String(machine.Uuid);
    const p = principalOf(c);
    if (p.kind !== "machine" || p.name !== uuid) {
      requireClaim(c, "machines", "token", uuid);
      const ttl = ttlOf(c, "machines", "knownTokenTimeout");
      return tokenAnswer(uuid, authn.tokenForMachine(machine, ttl), ttl);
    }
    if (p.use === "job") throw new SocleError("Forbidden", "machines", uuid, "a job's token gets no machine token (the agent's own token renews itself)");
    if (p.use !== "agent" && prefs.value("bindMachineFiles") !== "false") {
      const from = remoteIPv4(clientAddress(c));
      if (!mayTakeToken(deps.store, machine, from, new Date())) {
        throw new SocleError(
          "Forbidden",
          "machines",
          uuid,
          `a plain machine token gets the agent's token only from the machine's own address (its Address or a lease of one of its MACs), not from ${quote(from || "an unknown address")} (the bindMachineFiles pref "false" lifts this behind NAT)`,
        );
      }
    }
    const most = prefs.seconds("agentTokenTimeout");
    const ttl = intParam(c, "ttl", "machines", most, most);
    if (ttl === 0) throw invalid("machines", uuid, "ttl: must be at least 1 second");
    return tokenAnswer(uuid, authn.tokenForMachine(machine, ttl, "agent"), ttl);
  });

  // Ends every token issued for this machine (its Secret changes): a machine that left the rack,
  // or whose agent's token is in the wrong hands. Operators only: a machine token (a task's, one
  // copied off the network) must not be able to lock the machine's agent out. A new token comes
  // from GET .../token (an operator's, which the agent trades at its next start) or a new install.
  app.post("/api/v3/machines/:key/revoke", async (c) => {
    const machine = visibleObject(c, objects, "machines", c.req.param("key"));
    const uuid = String(machine.Uuid);
    const p = principalOf(c);
    if (p.kind === "machine") throw new SocleError("Forbidden", "machines", uuid, "a machine's token may not revoke tokens: an operator does (socle machines revoke)");
    requireClaim(c, "machines", "update", uuid);
    const saved = await objects.update("machines", uuid, (m) => ({ ...m, Secret: generateSecret() }));
    return json(objects.redact(objects.def("machines"), saved, secureAccess(p)));
  });

  /** The token answer, with Socle-Token and Socle-Token-Ttl for a shell. */
  function tokenAnswer(uuid: string, t: { token: string; expiresAt: number; claims: unknown }, ttl: number): Response {
    const res = tokenBody({ Machine: uuid }, t, ttl);
    res.headers.set("Socle-Token", t.token);
    res.headers.set("Socle-Token-Ttl", String(ttl));
    return res;
  }
}

/**
 * Why boot-local may not run now, or undefined: during a workflow, only right after its switch
 * into the environment the machine is in (an install stage), never to `local` from `local`.
 */
function bootLocalProblem(m: ModelObject): string | undefined {
  const workflow = fieldString(m.Workflow);
  if (workflow === "") return undefined;
  const at = typeof m.CurrentTask === "number" ? m.CurrentTask : -1;
  const step = fieldStrings(m.Tasks)[at] ?? "";
  const env = fieldString(m.BootEnv);
  if (env !== "local" && step === `bootenv:${env}`) return undefined;
  return `machine runs Workflow ${quote(workflow)}: boot-local ends only an install, right after the workflow switched the machine into its installer environment (its current step is ${quote(step || "none")}, BootEnv ${quote(env)}); an operator clears the Workflow or moves it on`;
}
