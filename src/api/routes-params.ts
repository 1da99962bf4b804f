// Parameters of machines and profiles: the object's own map, one parameter at a time, or the
// aggregate (resolved) view: machine -> its profiles in order -> global -> Param default.

import type { Context, Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, principalOf, requireClaim } from "./access.ts";
import type { Action } from "../auth/claims.ts";
import { json, jsonWithEtag, readJson } from "./http-util.ts";
import { invalid, notFound } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import { applyPatch } from "../model/json-patch.ts";
import { resolveParams, validateParamValues } from "../model/params.ts";
import { machineWriteGuard } from "./machine-scope.ts";

const PARAM_OWNERS = ["machines", "profiles"] as const;

export function paramRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { objects, store } = deps;

  const owner = (c: Context<ApiEnv>, prefix: string, action: Action) => {
    const def = objects.def(prefix);
    const obj = objects.get(prefix, c.req.param("key")!);
    const key = String(obj[def.key]);
    requireClaim(c, prefix, action, key);
    return { def, obj, key };
  };

  const params = (obj: ModelObject): Record<string, unknown> =>
    obj.Params && typeof obj.Params === "object" ? (obj.Params as Record<string, unknown>) : {};

  const aggregate = (prefix: string, obj: ModelObject) => {
    const resolved = resolveParams({
      machine: prefix === "machines" ? obj : undefined,
      profile: prefix === "profiles" ? obj : undefined,
      getProfile: (n) => store.get("profiles", n),
      getParam: (n) => store.get("params", n),
      global: store.get("profiles", "global"),
      params: store.list("params"),
    });
    const out: Record<string, unknown> = {};
    for (const [name, { value }] of [...resolved].sort(([a], [b]) => a.localeCompare(b))) out[name] = value;
    return out;
  };

  const save = async (c: Context<ApiEnv>, prefix: string, obj: ModelObject, key: string, next: Record<string, unknown>) => {
    // A machine token writes only some of its own Params (machine-scope.ts): checked first, so a
    // forbidden parameter is 403 whatever its value.
    const guard = prefix === "machines" ? machineWriteGuard(principalOf(c)) : undefined;
    guard?.({ ...obj, Params: next }, obj);
    const problems = validateParamValues(next, (n) => store.get("params", n));
    if (problems.length) throw invalid(objects.def(prefix).model, key, problems);
    const saved = await objects.replace(prefix, key, { ...objects.redact(objects.def(prefix), obj), Params: next }, guard);
    return params(saved);
  };

  for (const prefix of PARAM_OWNERS) {
    app.get(`/api/v3/${prefix}/:key/params`, (c) => {
      const { obj } = owner(c, prefix, "get");
      return jsonWithEtag(c, c.req.query("aggregate") === "true" ? aggregate(prefix, obj) : params(obj));
    });

    app.put(`/api/v3/${prefix}/:key/params`, async (c) => {
      const { def, obj, key } = owner(c, prefix, "update");
      const body = await readJson(c, { model: def.model, key, limit: deps.bodyLimit });
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw invalid(def.model, key, "Params: body must be a JSON object of parameter values");
      }
      return json(await save(c, prefix, obj, key, body as Record<string, unknown>));
    });

    app.patch(`/api/v3/${prefix}/:key/params`, async (c) => {
      const { def, obj, key } = owner(c, prefix, "update");
      const ops = await readJson(c, { model: def.model, key, limit: deps.bodyLimit, types: ["application/json-patch+json"] });
      if (!Array.isArray(ops)) throw invalid(def.model, key, "PATCH body must be a JSON Patch (RFC 6902) array");
      const next = applyPatch(params(obj), ops) as Record<string, unknown>;
      return json(await save(c, prefix, obj, key, next));
    });

    app.get(`/api/v3/${prefix}/:key/params/:name`, (c) => {
      const { def, obj, key } = owner(c, prefix, "get");
      const name = c.req.param("name");
      const values = c.req.query("aggregate") === "true" ? aggregate(prefix, obj) : params(obj);
      if (!(name in values)) throw notFound(def.model, `${key}/params/${name}`);
      return jsonWithEtag(c, values[name]);
    });

    app.post(`/api/v3/${prefix}/:key/params/:name`, async (c) => {
      const { def, obj, key } = owner(c, prefix, "update");
      const name = c.req.param("name");
      const value = await readJson(c, { model: def.model, key, limit: deps.bodyLimit });
      await save(c, prefix, obj, key, { ...params(obj), [name]: value });
      return json(value);
    });

    app.delete(`/api/v3/${prefix}/:key/params/:name`, async (c) => {
      const { def, obj, key } = owner(c, prefix, "update");
      const name = c.req.param("name");
      const current = params(obj);
      if (!(name in current)) throw notFound(def.model, `${key}/params/${name}`);
      const { [name]: removed, ...rest } = current;
      await save(c, prefix, obj, key, rest);
      return json(removed);
    });
  }
}
