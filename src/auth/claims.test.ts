import { describe, expect, test } from "bun:test";
import {
  ACTIONS,
  BUILTIN_ROLES,
  allows,
  claimAllows,
  claimProblems,
  machineClaims,
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
