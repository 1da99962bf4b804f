// A task's ExtraClaims widen the token of every job that runs it (the job token is its machine's
// token plus them). So whoever writes a task may grant only what it holds itself: every
// (scope, action, object) a new ExtraClaim covers must be covered by the writer's own claims, or
// the write is refused (403) naming the claim. Claims the task holds already are left alone: an
// operator without them may still change its Description or templates.

import type { ModelObject } from "../model/object.ts";
import { SocleError } from "../model/errors.ts";
import { jsonEqual } from "../model/json-schema.ts";
import { quote } from "../model/validate.ts";
import { allows, type Action, type Claim, type Principal } from "../auth/claims.ts";
import type { WriteGuard } from "./objects.ts";

const items = (list: unknown): string[] => (typeof list === "string" ? list.split(",").map((s) => s.trim()).filter(Boolean) : []);
const claimsOf = (obj: ModelObject | undefined): Claim[] => (Array.isArray(obj?.ExtraClaims) ? (obj.ExtraClaims as Claim[]) : []);

/** Whether `p` holds everything `claim` grants. */
export function holds(p: Principal, claim: Claim): boolean {
  const specific = typeof claim.Specific === "string" ? claim.Specific.trim() : "*";
  return items(claim.Scope).every((scope) => items(claim.Action).every((action) => allows(p.claims, scope, action as Action, specific)));
}

/** The guard for a write of a task by `p`; undefined for other types. */
export function taskClaimsGuard(p: Principal, prefix: string): WriteGuard | undefined {
  if (prefix !== "tasks") return undefined;
  return (next, current) => {
    const had = claimsOf(current);
    const over = claimsOf(next).filter((c) => !had.some((h) => jsonEqual(h, c)) && !holds(p, c));
    if (over.length === 0) return;
    throw new SocleError(
      "Forbidden",
      "tasks",
      String(next.Name ?? ""),
      over.map((c) => `ExtraClaims: ${quote(`${c.Scope} ${c.Action} ${c.Specific ?? "*"}`)} grants more than you hold; a task may grant its jobs only claims its writer has`),
    );
  };
}
