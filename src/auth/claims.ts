// DRP-style claims: what a principal may do, as (Scope, Action, Specific) triples.
//   Scope    API type prefix ("machines", "users"...), a comma list of them, or "*".
//   Action   a comma list of ACTIONS, or "*".
//   Specific "*" or one object key (a machine Uuid, a user Name...).
// A request is allowed when any one claim covers its (scope, action, key). There are no deny
// claims: least privilege comes from handing out few claims, as in DRP.
//
// A user's claims are never stored in a token: they are resolved on every request from the roles
// the user holds at that moment (effectiveRoles, claimsOfRoles), so taking a role from a user, or
// deleting or changing the role, takes effect on the next request. A user token may be narrowed
// at issue to some of the user's roles; narrowing only ever removes roles, never adds any.
// Machine, job and registration tokens carry their own fixed claims (machineClaims, jobClaims,
// registrationClaims).
//
// getSecure (DRP's name) is not a route: it decides how Secure param values (model/secure-params.ts)
// held by an object are shown to a principal that may read the object. With getSecure on
// (machines, <uuid>) or (profiles, <name>) that object's secure values are shown in clear in
// every answer, list, event, aggregate and render preview; without it they read "[secure]". It
// grants nothing on its own (reading the object still needs get or list), and each value follows
// the object that holds it: a machine's aggregate shows a profile's secure value in clear only
// with getSecure on that profile. Action "*" includes it, so the superuser role has it.

export const ACTIONS = [
  "list",
  "get",
  "create",
  "update",
  "patch",
  "delete",
  "action",
  "token",
  "password",
  "render",
  "events",
  "getSecure",
  // Webhooks (api/routes-webhooks.ts): read the delivery log, queue a delivery again, send a test event.
  "deliveries",
  "redeliver",
  "ping",
] as const;

export type Action = (typeof ACTIONS)[number];

export interface Claim {
  Scope: string;
  Action: string;
  Specific: string;
}

export type PrincipalKind = "user" | "machine" | "registration";

/** Who is calling, as the auth middleware hands it to handlers. */
export interface Principal {
  kind: PrincipalKind;
  /** User name, machine Uuid, or "registration". */
  name: string;
  claims: Claim[];
  /** The machine's Uuid when kind is "machine". */
  machine?: string;
  /**
   * Kind "user" through a token issued with `?roles=`: the roles it was narrowed to. Its claims
   * are those of the roles the user holds now that are also in this list. Undefined: all the
   * user's current roles (Basic auth, or a token issued without narrowing).
   */
  roles?: string[];
  /**
   * Kind "machine": "agent" for the token an agent keeps and renews (it may get its successor,
   * GET /machines/<uuid>/token), "job" for a job's token, absent for a plain machine token (boot
   * files carry those: short-lived, and renewable only from the machine's own address).
   */
  use?: MachineTokenUse;
  /**
   * The token that authenticated it (absent for Basic and client certificates): what decides
   * whether a long-lived request made with it (an event stream) may go on.
   */
  token?: { id: string; issuedAt: number; expiresAt: number };
}

export type MachineTokenUse = "agent" | "job";

const ACTION_SET: ReadonlySet<string> = new Set(ACTIONS);

export function isAction(s: string): s is Action {
  return ACTION_SET.has(s);
}

/** Split a comma list, dropping blanks and surrounding spaces ("get, update" -> [get, update]). */
function items(list: string): string[] {
  return list
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Does this one claim cover `action` on the object `specific` of type `scope`? */
export function claimAllows(claim: Claim, scope: string, action: Action, specific: string): boolean {
  const scopes = items(claim.Scope);
  if (!scopes.includes("*") && !scopes.includes(scope)) return false;
  const actions = items(claim.Action);
  if (!actions.includes("*") && !actions.includes(action)) return false;
  // Specific is one key, compared whole: a key may itself contain a comma.
  const want = claim.Specific.trim();
  return want === "*" || want === specific;
}

/** Does any claim cover the request? An empty claim list allows nothing. */
export function allows(claims: readonly Claim[], scope: string, action: Action, specific: string): boolean {
  return claims.some((c) => claimAllows(c, scope, action, specific));
}

/**
 * The roles a user's request acts with: those the user holds now, kept to `narrowedTo` when its
 * token was issued for only some of them. A role in `narrowedTo` that the user no longer holds
 * grants nothing, so a narrowed token can never hold more than the user does.
 */
export function effectiveRoles(held: readonly string[], narrowedTo?: readonly string[]): string[] {
  if (narrowedTo === undefined) return [...held];
  const keep = new Set(narrowedTo);
  return held.filter((r) => keep.has(r));
}

/**
 * The union of the claims of `roles`, each looked up now through `claimsOf` (a role's current
 * Claims, or undefined when it no longer exists: it then grants nothing).
 */
export function claimsOfRoles(roles: readonly string[], claimsOf: (role: string) => Claim[] | undefined): Claim[] {
  const out: Claim[] = [];
  for (const name of roles) out.push(...(claimsOf(name) ?? []));
  return out;
}

/**
 * The roles a token is to be narrowed to, from the `roles` query values: each value is one role
 * name when the user holds a role of exactly that name (names may contain commas), else a comma
 * list of names. Returns the roles; the problems (no role, or one the user does not hold), each
 * naming the role; and the roles `beyond` the bound `within` (the narrowing of the token that
 * asks for a token for its own user), which it may not hand out.
 */
export function narrowRoles(
  user: string,
  values: readonly string[],
  held: readonly string[],
  within?: readonly string[],
): { roles: string[]; problems: string[]; beyond: string[] } {
  const heldSet = new Set(held);
  const names: string[] = [];
  for (const v of values) {
    if (heldSet.has(v)) names.push(v);
    else names.push(...items(v));
  }
  const roles = [...new Set(names)];
  const problems: string[] = [];
  if (roles.length === 0) problems.push(`roles: no role named; name at least one of user "${user}"'s roles, or leave roles out for all of them`);
  for (const r of roles) if (!heldSet.has(r)) problems.push(`roles: user "${user}" does not hold role "${r}"`);
  const bound = within === undefined ? undefined : new Set(within);
  const beyond = bound === undefined ? [] : roles.filter((r) => !bound.has(r));
  return { roles, problems, beyond };
}

/**
 * Check a claim supplied by an operator (a Role's Claims). Returns the problems, each naming the
 * field and quoting the value; an empty list means the claim is valid.
 */
export function claimProblems(claim: unknown): string[] {
  if (typeof claim !== "object" || claim === null || Array.isArray(claim)) {
    return [`claim must be an object with Scope, Action and Specific, got ${JSON.stringify(claim) ?? "undefined"}`];
  }
  const c = claim as Record<string, unknown>;
  const out: string[] = [];
  for (const field of ["Scope", "Action", "Specific"] as const) {
    const v = c[field];
    if (typeof v !== "string" || v.trim() === "") out.push(`claim ${field} must be a non-empty string, got ${JSON.stringify(v) ?? "undefined"}`);
  }
  if (typeof c.Scope === "string") {
    for (const s of items(c.Scope)) {
      if (s !== "*" && !/^[a-z][a-z0-9_-]*$/.test(s)) out.push(`claim Scope "${s}" is not an API type prefix or "*"`);
    }
  }
  if (typeof c.Action === "string") {
    for (const a of items(c.Action)) {
      if (a !== "*" && !isAction(a)) out.push(`claim Action "${a}" is not one of ${ACTIONS.join(",")} or "*"`);
    }
  }
  return out;
}

/** Everything, everywhere: the built-in superuser role. */
export function superuserClaims(): Claim[] {
  return [{ Scope: "*", Action: "*", Specific: "*" }];
}

/** Built-in roles by name. Each call returns fresh arrays, so callers may not corrupt them. */
export const BUILTIN_ROLES: Readonly<Record<string, () => Claim[]>> = Object.freeze({
  superuser: superuserClaims,
});

/**
 * What a machine's own token may do: read and change only its own Machine object. Reading its
 * resolved parameters (GET /machines/<uuid>/params) is a "get" on the machine, so the same claim
 * covers it; the API must map that route to (machines, get, uuid).
 *
 * No getSecure: through the API a machine token reads its secure params as "[secure]". DRP lets a
 * machine read them because its installer needs them; here the installer gets them in the files
 * rendered for it, which go only to that machine's addresses (boot/file-binding.ts) and hold only
 * the values its templates use. A token is a bearer credential that travels further than those
 * files (installer environments, kernel command lines, logs), and its aggregate view reaches
 * every secure value of every profile the machine uses (a rack's shared BMC password), so it is
 * left without the claim. Granting it is adding "getSecure" to Action below.
 */
export function machineClaims(uuid: string): Claim[] {
  return [{ Scope: "machines", Action: "get,update,patch", Specific: uuid }];
}

/**
 * What a job's token may do (the token the agent hands a task's scripts as RS_TOKEN): its
 * machine's own claims (machineClaims) and the ExtraClaims its task declares, nothing else. It is
 * a machine token still: it speaks for its machine, reaches that machine's jobs as the machine's
 * own token does, and is revoked with it (the machine's Secret). A task's ExtraClaims are the only
 * way a job reaches beyond its machine; they are the task author's to grant, so only who may write
 * tasks decides them.
 */
export function jobClaims(uuid: string, extra: readonly Claim[]): Claim[] {
  return [...machineClaims(uuid), ...extra.map((c) => ({ Scope: c.Scope, Action: c.Action, Specific: c.Specific }))];
}

/**
 * What a registration token (handed to unknown machines by the discovery environment) may do:
 * create a Machine, nothing else. Specific is "*" because the key does not exist before the
 * create; the API answers the create with the new machine and a machine token (machineClaims),
 * which is how the machine reads itself afterwards. It can neither list nor get other machines.
 */
export function registrationClaims(): Claim[] {
  return [{ Scope: "machines", Action: "create", Specific: "*" }];
}
