// templates, params, profiles, users, roles: the types with few rules.
import { describe, expect, test } from "bun:test";
import { params } from "./params.ts";
import { profiles } from "./profiles.ts";
import { roles } from "./roles.ts";
import { templates } from "./templates.ts";
import { messagesOf } from "./test-util.ts";
import { users } from "./users.ts";

describe("templates", () => {
  test("ID key, contents default", () => {
    expect(templates.prepare({ ID: "kickstart.cfg.tmpl" })).toMatchObject({ ID: "kickstart.cfg.tmpl", Contents: "", Description: "" });
    expect(messagesOf(templates, { ID: "a:b", Contents: 5 })).toEqual(['ID: invalid name "a:b": contains ":"', "Contents: expected string, got number 5"]);
    expect(templates.key).toBe("ID");
  });
});

describe("params", () => {
  test("schema and default are checked", () => {
    expect(params.prepare({ Name: "console-speed", Schema: { type: "integer", default: 115200 } }).Secure).toBe(false);
    expect(messagesOf(params, { Name: "p", Schema: { type: "integer", default: "fast" } })).toEqual(['Schema.default: expected integer, got "fast"']);
    expect(messagesOf(params, { Name: "p", Schema: { type: "int" } })).toEqual(['Schema.type: unsupported type "int"; supported: string, number, integer, boolean, object, array, null']);
    expect(messagesOf(params, { Name: "p", Schema: { enum: ["a"], default: "b" } })).toEqual(['Schema.default: "b" is not one of "a"']);
    expect(messagesOf(params, { Name: "p", Schema: "string" })).toEqual(['Schema: expected record, got string "string"']);
  });
});

describe("profiles", () => {
  test("params, sub-profiles and references", () => {
    const p = profiles.prepare({ Name: "web", Params: { a: 1 }, Profiles: ["base"] });
    expect(p).toMatchObject({ Name: "web", Params: { a: 1 }, Profiles: ["base"] });
    expect(profiles.references(p)).toEqual([{ type: "profiles", key: "base", field: "Profiles[0]" }]);
    expect(messagesOf(profiles, { Name: "web", Profiles: ["web", "x/y"] })).toEqual([
      'Profiles[1]: invalid name "x/y": contains "/"',
      'Profiles[0]: profile "web" may not include itself',
    ]);
  });
});

describe("users", () => {
  test("secrets kept on update, roles referenced", () => {
    const u = users.prepare({ Name: "alice", PasswordHash: "$scrypt$x", Roles: ["operator"] });
    expect(u).toMatchObject({ Name: "alice", Roles: ["operator"], PasswordHash: "$scrypt$x" });
    expect(users.secretFields).toEqual(["PasswordHash", "Secret"]);
    const again = users.prepare({ Name: "alice", Description: "ops" }, u);
    expect(again.PasswordHash).toBe("$scrypt$x");
    expect(again.Secret).toBe(u.Secret);
    expect(users.references(u)).toEqual([{ type: "roles", key: "operator", field: "Roles[0]" }]);
    expect(users.prepare({ Name: "bob" }).Roles).toEqual([]);
    expect(messagesOf(users, { Name: "alice", Secret: "short" })).toEqual(['Secret: "(hidden)" is shorter than the minimum of 16 characters']);
    expect(messagesOf(users, { Name: "bob" }, u)).toEqual(['Name: may not change from "alice" to "bob"']);
  });
});

describe("roles", () => {
  test("claims with wildcards and lists", () => {
    const r = roles.prepare({ Name: "operator", Claims: [{ Scope: "machines,profiles", Action: "get,list" }, { Scope: "*", Action: "*", Specific: "*" }] });
    expect(r.Claims).toEqual([
      { Scope: "machines,profiles", Action: "get,list", Specific: "*" },
      { Scope: "*", Action: "*", Specific: "*" },
    ]);
    expect(messagesOf(roles, { Name: "r", Claims: [{ Scope: "", Action: "get list" }, { Scope: "a,,b", Action: "x", Bogus: 1 }] })).toEqual([
      'Claims[0].Scope: invalid claim scope "": must not be empty',
      'Claims[0].Action: invalid claim action "get list": must not contain white space or control characters',
      'Claims[1].Scope: invalid claim scope "a,,b": has an empty entry between commas',
      "Claims[1].Bogus: unknown field",
    ]);
  });
});
