// Authorisation at the edge: every route names the (scope, action, specific) it needs, and the
// principal's claims decide. Users may always read their own token and change their own password.
// Claims say which objects; for machine tokens, which fields of their own Machine they may write
// is said in machine-scope.ts (the routes that write machines pass its guard). A registration
// token reaches POST /api/v3/register only (routes-register.ts).

import type { Context } from "hono";
import { SocleError } from "../model/errors.ts";
import { allows, type Action, type Principal } from "../auth/claims.ts";

export type ApiEnv = { Variables: { principal: Principal } };

export function principalOf(c: Context<ApiEnv>): Principal {
  return c.get("principal");
}

export function may(p: Principal, scope: string, action: Action, specific: string): boolean {
  return allows(p.claims, scope, action, specific);
}

export function requireClaim(c: Context<ApiEnv>, scope: string, action: Action, specific = "*"): Principal {
  const p = principalOf(c);
  if (!may(p, scope, action, specific)) {
    throw new SocleError("Forbidden", scope, specific === "*" ? "" : specific, [
      `${p.kind} "${p.name}" may not ${action} ${scope}${specific === "*" ? "" : ` "${specific}"`}`,
    ]);
  }
  return p;
}

/** Self-service: a user acting on its own user object passes without a claim. */
export function requireSelfOr(c: Context<ApiEnv>, scope: string, action: Action, name: string): Principal {
  const p = principalOf(c);
  if (p.kind === "user" && p.name === name) return p;
  return requireClaim(c, scope, action, name);
}
