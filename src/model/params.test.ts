import { describe, expect, test } from "bun:test";
import { SocleError } from "./errors.ts";
import type { ModelObject } from "./object.ts";
import { lookupParam, profileCycle, resolveParams, resolveParamsDetailed, validateParamValues, type ParamReveal } from "./params.ts";
import { ENVELOPE_FIELD } from "./secure-params.ts";

const PROFILES: Record<string, ModelObject> = {
  global: { Name: "global", Params: { ntp: "pool.ntp.org", tz: "UTC", "only-global": 1 }, Profiles: [] },
  web: { Name: "web", Params: { role: "web", tz: "Europe/Paris" }, Profiles: ["base"] },
  base: { Name: "base", Params: { role: "base", kernel: "lts", tz: "Asia/Tokyo" }, Profiles: [] },
  eu: { Name: "eu", Params: { tz: "Europe/Berlin", lang: "de" }, Profiles: ["base"] },
  a: { Name: "a", Params: { x: "a" }, Profiles: ["b"] },
  b: { Name: "b", Params: { x: "b", y: "b" }, Profiles: ["a"] },
};
const PARAMS: Record<string, ModelObject> = {
  ntp: { Name: "ntp", Schema: { type: "string", default: "time.example" } },
  "console-speed": { Name: "console-speed", Schema: { type: "integer", default: 115200, minimum: 9600 } },
  "no-default": { Name: "no-default", Schema: { type: "string" } },
  ports: { Name: "ports", Schema: { type: "array", items: { type: "integer" } } },
};
const getProfile = (n: string) => PROFILES[n];
const getParam = (n: string) => PARAMS[n];
const base = { getProfile, getParam, global: PROFILES.global, params: Object.values(PARAMS) };

const show = (m: Map<string, { value: unknown; source: string }>) => Object.fromEntries([...m].map(([k, v]) => [k, [v.value, v.source]]));

describe("resolveParams", () => {
  test("machine -> profiles in order, depth-first -> global -> defaults", () => {
    const machine = { Uuid: "u1", Name: "n1", Params: { role: "db" }, Profiles: ["web", "eu"] };
    expect(show(resolveParams({ ...base, machine }))).toEqual({
      role: ["db", "machine"],
      tz: ["Europe/Paris", "profile:web"],
      kernel: ["lts", "profile:base"], // web's sub-profile comes before eu
      lang: ["de", "profile:eu"],
      ntp: ["pool.ntp.org", "global"],
      "only-global": [1, "global"],
      "console-speed": [115200, "default"],
    });
  });
  test("a profile's own Params come before its sub-profiles'", () => {
    const machine = { Uuid: "u1", Name: "n1", Params: {}, Profiles: ["web"] };
    const r = resolveParams({ ...base, machine });
    expect(r.get("role")).toEqual({ value: "web", source: "profile:web" });
  });
  test("a profile resolved on its own (unsaved preview)", () => {
    const profile = { Name: "new", Params: { tz: "UTC+1" }, Profiles: ["eu"] };
    expect(show(resolveParams({ ...base, profile }))).toMatchObject({ tz: ["UTC+1", "profile:new"], lang: ["de", "profile:eu"], role: ["base", "profile:base"], ntp: ["pool.ntp.org", "global"] });
  });
  test("global listed explicitly keeps its source and is visited once", () => {
    const machine = { Uuid: "u1", Name: "n1", Params: {}, Profiles: ["global", "web"] };
    const r = resolveParamsDetailed({ ...base, machine });
    expect(r.values.get("tz")).toEqual({ value: "UTC", source: "global" });
    expect(r.problems).toEqual([]);
  });
  test("without global or params, only the given layers count", () => {
    const machine = { Uuid: "u1", Name: "n1", Params: { a: 1 }, Profiles: [] };
    expect(show(resolveParams({ machine, getProfile, getParam, global: undefined }))).toEqual({ a: [1, "machine"] });
  });
  test("defaults are copies", () => {
    const p = { Name: "list", Schema: { default: [1] } };
    const r = resolveParams({ getProfile, getParam, global: undefined, params: [p] });
    (r.get("list")?.value as number[]).push(2);
    expect(p.Schema.default).toEqual([1]);
  });
  test("cycles end and are reported; resolveParams throws naming the cycle", () => {
    const machine = { Uuid: "u1", Name: "n1", Params: {}, Profiles: ["a"] };
    const d = resolveParamsDetailed({ ...base, machine });
    expect(d.problems).toEqual(["profile cycle: a -> b -> a"]);
    expect(d.values.get("x")).toEqual({ value: "a", source: "profile:a" });
    expect(d.values.get("y")).toEqual({ value: "b", source: "profile:b" });
    try {
      resolveParams({ ...base, machine });
      throw new Error("not thrown");
    } catch (e) {
      expect(e).toBeInstanceOf(SocleError);
      expect((e as SocleError).toJSON()).toMatchObject({ Model: "machines", Key: "u1", Code: 422, Messages: ["profile cycle: a -> b -> a"] });
    }
  });
  test("diamonds are not cycles; missing profiles are listed", () => {
    const machine = { Uuid: "u1", Name: "n1", Params: {}, Profiles: ["web", "eu", "ghost"] };
    const d = resolveParamsDetailed({ ...base, machine });
    expect(d.problems).toEqual(['machine "n1": profile "ghost" not found']);
    expect(() => resolveParams({ ...base, machine })).not.toThrow();
  });
  test("profileCycle finds a cycle closing through a profile update", () => {
    expect(profileCycle({ Name: "base", Profiles: ["web"] }, getProfile)).toBe("profile cycle: base -> web -> base");
    expect(profileCycle({ Name: "new", Profiles: ["web", "eu"] }, getProfile)).toBeUndefined(); // a diamond
    expect(profileCycle({ Name: "base", Profiles: [] }, getProfile)).toBeUndefined();
  });
});

describe("resolveParams with reveal", () => {
  test("only winning values are revealed, each with the object that holds it; defaults are not", () => {
    const calls: string[] = [];
    const reveal: ParamReveal = (value, name, owner) => {
      calls.push(`${name}@${owner.type}/${owner.key}`);
      return `<${String(value)}>`;
    };
    const machine = { Uuid: "u1", Name: "n1", Params: { role: "db" }, Profiles: ["web"] };
    expect(show(resolveParams({ ...base, machine, reveal }))).toEqual({
      role: ["<db>", "machine"],
      tz: ["<Europe/Paris>", "profile:web"],
      kernel: ["<lts>", "profile:base"],
      ntp: ["<pool.ntp.org>", "global"],
      "only-global": ["<1>", "global"],
      "console-speed": [115200, "default"],
    });
    // Shadowed values (base's role and tz, global's tz) are never revealed.
    expect(calls.sort()).toEqual(["kernel@profiles/base", "ntp@profiles/global", "only-global@profiles/global", "role@machines/u1", "tz@profiles/web"]);
  });

  test("a profile resolved on its own reveals its values as the profile's", () => {
    const owners: string[] = [];
    resolveParams({ ...base, profile: PROFILES.eu, reveal: (v, n, o) => (owners.push(`${n}@${o.type}/${o.key}`), v) });
    expect(owners).toContain("lang@profiles/eu");
    expect(owners).toContain("ntp@profiles/global");
  });
});

describe("lookupParam", () => {
  test("returns the value or names the parameter and the object", () => {
    const r = resolveParams({ ...base, machine: { Uuid: "u1", Name: "n1", Params: { a: false } } });
    expect(lookupParam(r, "a", 'machine "n1"')).toBe(false);
    expect(lookupParam(r, "console-speed", 'machine "n1"')).toBe(115200);
    expect(() => lookupParam(r, "no-default", 'machine "n1"')).toThrow('parameter "no-default" is not set for machine "n1"');
    try {
      lookupParam(r, "missing", 'machine "n1"');
    } catch (e) {
      expect((e as SocleError).code).toBe(422);
    }
  });
});

describe("validateParamValues", () => {
  test("checks values against Param schemas, free-form when undeclared", () => {
    expect(validateParamValues({ "console-speed": 115200, ports: [22, 80], other: { any: 1 } }, getParam)).toEqual([]);
    expect(validateParamValues({ "console-speed": 300, ports: [22, "http"], ntp: 5 }, getParam)).toEqual([
      "Params.console-speed: 300 is less than the minimum 9600",
      'Params.ports[1]: expected integer, got "http"',
      "Params.ntp: expected string, got 5",
    ]);
  });

  test("sealed values are not checked (nor quoted): each was checked in clear when it was sealed", () => {
    expect(validateParamValues({ "console-speed": { [ENVELOPE_FIELD]: "v1:x:y" } }, getParam)).toEqual([]);
    expect(validateParamValues({ "console-speed": { [ENVELOPE_FIELD]: "v1:x:y", extra: 1 } }, getParam)).toEqual([expect.stringContaining("expected integer")]);
  });
});
