import { describe, expect, test } from "bun:test";
import {
  ACTIONS,
  BUILTIN_ROLES,
  allows,
  claimAllows,
  claimProblems,
  claimsOfRoles,
  effectiveRoles,
  machineClaims,
  narrowRoles,
  registrationClaims,
  superuserClaims,
  type Claim,
} from "./claims.ts";

const M1 = "3f1a2b4c-0000-4000-8000-000000000001";
const M2 = "3f1a2b4c-0000-4000-8000-000000000002";

describe("claimAllows", () => {
  test("exact scope, action list and specific key", () => {
    const c: Claim = { Scope: "machines", Action: "get, update", Specific: M1 };
    expect(claimAllows(c, "machines", "get", M1)).toBe(true);
    expect(claimAllows(c, "machines", "update", M1)).toBe(true);
    expect(claimAllows(c, "machines", "delete", M1)).toBe(false);
    expect(claimAllows(c, "machines", "get", M2)).toBe(false);
    expect(claimAllows(c, "profiles", "get", M1)).toBe(false);
  });

  test("wildcards and scope lists", () => {
    const c: Claim = { Scope: "machines,profiles", Action: "*", Specific: "*" };
    expect(claimAllows(c, "profiles", "delete", "global")).toBe(true);
    expect(claimAllows(c, "users", "get", "admin")).toBe(false);
  });

  test("a scope is matched whole, not as a prefix", () => {
    const c: Claim = { Scope: "machine", Action: "*", Specific: "*" };
    expect(claimAllows(c, "machines", "get", M1)).toBe(false);
  });

  test("Specific is one key compared whole, even with commas", () => {
    const c: Claim = { Scope: "profiles", Action: "get", Specific: "a,b" };
    expect(claimAllows(c, "profiles", "get", "a,b")).toBe(true);
    expect(claimAllows(c, "profiles", "get", "a")).toBe(false);
  });
});

describe("allows", () => {
  test("any claim suffices; none allows nothing", () => {
    const claims: Claim[] = [
      { Scope: "machines", Action: "list", Specific: "*" },
      { Scope: "users", Action: "password", Specific: "bob" },
    ];
    expect(allows(claims, "machines", "list", "")).toBe(true);
    expect(allows(claims, "users", "password", "bob")).toBe(true);
    expect(allows(claims, "users", "password", "alice")).toBe(false);
    expect(allows([], "machines", "get", M1)).toBe(false);
  });

  test("superuser allows every action on every scope", () => {
    for (const a of ACTIONS) expect(allows(superuserClaims(), "anything", a, "k")).toBe(true);
    expect(BUILTIN_ROLES.superuser?.()).toEqual(superuserClaims());
  });

  test("getSecure is an action of its own: superuser and * hold it, get does not imply it", () => {
    expect(ACTIONS).toContain("getSecure");
    expect(allows(superuserClaims(), "machines", "getSecure", M1)).toBe(true);
    expect(allows([{ Scope: "machines", Action: "*", Specific: M1 }], "machines", "getSecure", M1)).toBe(true);
    const reader: Claim[] = [{ Scope: "machines,profiles", Action: "list,get", Specific: "*" }];
    expect(allows(reader, "machines", "getSecure", M1)).toBe(false);
    const one: Claim[] = [{ Scope: "profiles", Action: "getSecure", Specific: "bmc" }];
    expect(allows(one, "profiles", "getSecure", "bmc")).toBe(true);
    expect(allows(one, "profiles", "getSecure", "global")).toBe(false);
    expect(claimProblems({ Scope: "machines", Action: "get,getSecure", Specific: "*" })).toEqual([]);
  });

  test("a machine token does not hold getSecure, not even on itself", () => {
    expect(allows(machineClaims(M1), "machines", "getSecure", M1)).toBe(false);
    expect(allows(registrationClaims(), "machines", "getSecure", M1)).toBe(false);
  });

  test("a machine may get/update/patch only itself", () => {
    const claims = machineClaims(M1);
    for (const a of ["get", "update", "patch"] as const) {
      expect(allows(claims, "machines", a, M1)).toBe(true);
      expect(allows(claims, "machines", a, M2)).toBe(false);
    }
    for (const a of ["list", "create", "delete", "token", "action"] as const) {
      expect(allows(claims, "machines", a, M1)).toBe(false);
    }
    expect(allows(claims, "profiles", "get", "global")).toBe(false);
    expect(allows(claims, "users", "get", M1)).toBe(false);
  });

  test("a registration token may only create machines", () => {
    const claims = registrationClaims();
    expect(allows(claims, "machines", "create", "")).toBe(true);
    for (const a of ACTIONS.filter((x) => x !== "create")) {
      expect(allows(claims, "machines", a, M1)).toBe(false);
    }
    expect(allows(claims, "users", "create", "")).toBe(false);
  });
});

describe("claimProblems", () => {
  test("valid claims have none", () => {
    expect(claimProblems({ Scope: "*", Action: "*", Specific: "*" })).toEqual([]);
    expect(claimProblems({ Scope: "machines,bootenvs", Action: "list,get", Specific: "x" })).toEqual([]);
  });

  test("bad fields are named and quoted", () => {
    expect(claimProblems({ Scope: "machines", Action: "get,reboot", Specific: "*" })).toEqual([
      `claim Action "reboot" is not one of ${ACTIONS.join(",")} or "*"`,
    ]);
    expect(claimProblems({ Scope: "Machines!", Action: "get", Specific: "*" })[0]).toContain('"Machines!"');
    expect(claimProblems({ Scope: "machines", Action: "get" })).toEqual([
      "claim Specific must be a non-empty string, got undefined",
    ]);
    expect(claimProblems(null)[0]).toContain("must be an object");
    expect(claimProblems(["x"])[0]).toContain("must be an object");
  });
});

describe("effectiveRoles and claimsOfRoles: a user's claims now", () => {
  const ROLES: Record<string, Claim[]> = {
    reader: [{ Scope: "machines", Action: "list,get", Specific: "*" }],
    writer: [{ Scope: "machines", Action: "create,update", Specific: "*" }],
  };
  const lookup = (name: string) => ROLES[name];

  test("without narrowing, every role held now", () => {
    expect(effectiveRoles(["reader", "writer"])).toEqual(["reader", "writer"]);
    expect(claimsOfRoles(effectiveRoles(["reader", "writer"]), lookup)).toEqual([...ROLES.reader!, ...ROLES.writer!]);
  });

  test("narrowing keeps only the named roles the user still holds", () => {
    expect(effectiveRoles(["reader", "writer"], ["reader"])).toEqual(["reader"]);
    // A role the user no longer holds grants nothing, even though the token names it.
    expect(effectiveRoles(["reader"], ["writer"])).toEqual([]);
    // Narrowing never widens: the user's roles bound it.
    expect(effectiveRoles([], ["superuser"])).toEqual([]);
    expect(effectiveRoles(["reader"], [])).toEqual([]);
  });

  test("a role that no longer exists grants nothing", () => {
    expect(claimsOfRoles(["gone", "reader"], lookup)).toEqual(ROLES.reader!);
    expect(claimsOfRoles(["gone"], lookup)).toEqual([]);
  });
});

describe("narrowRoles: ?roles= at token issue", () => {
  test("a comma list of held roles", () => {
    expect(narrowRoles("ops", ["reader, writer"], ["reader", "writer"])).toEqual({ roles: ["reader", "writer"], problems: [], beyond: [] });
    expect(narrowRoles("ops", ["reader", "reader,writer"], ["reader", "writer"]).roles).toEqual(["reader", "writer"]);
  });

  test("a role name with a comma is taken whole when the user holds it", () => {
    expect(narrowRoles("ops", ["a,b"], ["a,b", "a"]).roles).toEqual(["a,b"]);
  });

  test("a role the user does not hold is a problem naming it", () => {
    expect(narrowRoles("ops", ["reader,superuser"], ["reader"]).problems).toEqual(['roles: user "ops" does not hold role "superuser"']);
    expect(narrowRoles("ops", [""], ["reader"]).problems[0]).toContain("no role named");
  });

  test("roles beyond the asking token's own narrowing are reported", () => {
    const r = narrowRoles("ops", ["reader,writer"], ["reader", "writer"], ["reader"]);
    expect(r.problems).toEqual([]);
    expect(r.beyond).toEqual(["writer"]);
  });
});
