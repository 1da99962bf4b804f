// Authorisation at the edge: every route names the (scope, action, specific) it needs, and the
// principal's claims decide. Users may always read their own token and change their own password.
// Claims say which objects; for machine tokens, which fields of their own Machine they may write
// is said in machine-scope.ts (the routes that write machines pass its guard). A registration
// token reaches POST /api/v3/register only (routes-register.ts).

import type { Context } from "hono";
import { SocleError, notFound } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import type { ObjectService } from "./objects.ts";
import { allows, type Action, type Principal } from "../auth/claims.ts";

export type ApiEnv = { Variables: { principal: Principal } };

export function principalOf(c: Context<ApiEnv>): Principal {
  return c.get("principal");
}

export function may(p: Principal, scope: string, action: Action, specific: string): boolean {
  return allows(p.claims, scope, action, specific);
}

/**
 * Which secure param values `p` sees in clear: those of the objects it holds getSecure on
 * (auth/claims.ts). Every answer that carries a machine or profile is redacted through this.
 */
export function secureAccess(p: Principal): (type: string, key: string) => boolean {
  return (type, key) => allows(p.claims, type, "getSecure", key);
}

export function requireClaim(c: Context<ApiEnv>, scope: string, action: Action, specific = "*"): Principal {
  const p = principalOf(c);
  const refused = claimRefusal(c, scope, action, specific);
  if (refused !== undefined) throw new SocleError("Forbidden", scope, specific === "*" ? "" : specific, [refused]);
  return p;
}

/** Why the caller may not `action` `scope` (`specific`): the sentence a 403 carries; undefined when it may. */
export function claimRefusal(c: Context<ApiEnv>, scope: string, action: Action, specific = "*"): string | undefined {
  const p = principalOf(c);
  if (may(p, scope, action, specific)) return undefined;
  return `${p.kind} "${p.name}" may not ${action} ${scope}${specific === "*" ? "" : ` "${specific}"`}`;
}

/**
 * The object `ref` names (a key or Index:value), for a caller that may see it. A caller that may
 * not `get` it gets exactly the 404 a missing object gets, naming the reference as it was given: a
 * refusal must not tell a machine token which Uuid a MAC or Name belongs to, or that it exists at
 * all. A caller that may read it but not do the action still gets the 403 of requireClaim.
 */
export function visibleObject(c: Context<ApiEnv>, objects: ObjectService, prefix: string, ref: string): ModelObject {
  const obj = objects.get(prefix, ref);
  if (!may(principalOf(c), prefix, "get", objects.keyOf(prefix, obj))) throw notFound(objects.def(prefix).model, ref);
  return obj;
}

/** Self-service: a user acting on its own user object passes without a claim. */
export function requireSelfOr(c: Context<ApiEnv>, scope: string, action: Action, name: string): Principal {
  const p = principalOf(c);
  if (p.kind === "user" && p.name === name) return p;
  return requireClaim(c, scope, action, name);
}
