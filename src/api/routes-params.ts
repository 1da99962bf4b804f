// Parameters of machines and profiles: the object's own map, one parameter at a time, or the
// aggregate (resolved) view: machine -> its profiles in order -> global -> Param default.
//
// Every route works on the map as its caller sees it (objects.redact): Secure values are the
// marker, or in clear for holders of getSecure on the object that holds them; in the aggregate,
// each value follows the layer it came from (a profile's secure value needs getSecure on that
// profile). Writes start from that view, so the markers they carry back keep the stored values
// (objects.ts), and a JSON Patch `test` compares with what the caller read.

import type { Context, Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, principalOf, requireClaim, secureAccess, visibleObject } from "./access.ts";
import type { Action } from "../auth/claims.ts";
import { json, jsonWithEtag, readJson } from "./http-util.ts";
import { badRequest, invalid, notFound } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import { applyPatch } from "../model/json-patch.ts";
import { resolveParams } from "../model/params.ts";
import { machineWriteGuard } from "./machine-scope.ts";

const PARAM_OWNERS = ["machines", "profiles"] as const;

export function paramRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { objects, store } = deps;

  /** The object, and its Params as the caller sees them (`shown`). */
  const owner = (c: Context<ApiEnv>, prefix: string, action: Action) => {
    const def = objects.def(prefix);
    const obj = visibleObject(c, objects, prefix, c.req.param("key")!);
    const key = String(obj[def.key]);
    const access = secureAccess(requireClaim(c, prefix, action, key));
    const shown = objects.redact(def, obj, access);
    return { def, obj, key, access, shown };
  };

  const params = (obj: ModelObject): Record<string, unknown> =>
    obj.Params && typeof obj.Params === "object" ? (obj.Params as Record<string, unknown>) : {};

  /**
   * The resolved parameters; `sources`: each as { Value, Source } with the layer it comes from
   * ("machine", "profile:<name>", "stage:<name>", "global", "default").
   */
  const aggregate = (prefix: string, obj: ModelObject, access: (type: string, key: string) => boolean, sources = false) => {
    const resolved = resolveParams({
      machine: prefix === "machines" ? obj : undefined,
      profile: prefix === "profiles" ? obj : undefined,
      getProfile: (n) => store.get("profiles", n),
      getStage: (n) => store.get("stages", n),
      getParam: (n) => store.get("params", n),
      global: store.get("profiles", "global"),
      params: store.list("params"),
      reveal: (value, name, layer) => objects.shownParam(layer, name, value, access(layer.type, layer.key)),
    });
    const out: Record<string, unknown> = {};
    for (const [name, { value, source }] of [...resolved].sort(([a], [b]) => a.localeCompare(b))) out[name] = sources ? { Value: value, Source: source } : value;
    return out;
  };

  /**
   * Store `next` (built from the caller's view `shown`) as the object's Params; answers them as the
   * caller sees them. The values are checked against their Params when the object is stored.
   */
  const save = async (c: Context<ApiEnv>, prefix: string, o: ReturnType<typeof owner>, next: Record<string, unknown>) => {
    // A machine token writes only some of its own Params (machine-scope.ts): checked first, so a
    // forbidden parameter is 403 whatever its value. Both sides as the machine sees them.
    const guard = machineWriteGuard(principalOf(c), prefix);
    guard?.({ ...o.shown, Params: next }, o.shown);
    const saved = await objects.replace(prefix, o.key, { ...o.shown, Params: next }, guard);
    return params(objects.redact(o.def, saved, o.access));
  };

  for (const prefix of PARAM_OWNERS) {
    app.get(`/api/v3/${prefix}/:key/params`, (c) => {
      const { obj, shown, access } = owner(c, prefix, "get");
      if (c.req.query("sources") === "true" && c.req.query("aggregate") !== "true") throw badRequest(prefix, "", "sources: only with aggregate=true (the layer each resolved value comes from)");
      return jsonWithEtag(c, c.req.query("aggregate") === "true" ? aggregate(prefix, obj, access, c.req.query("sources") === "true") : params(shown));
    });

    app.put(`/api/v3/${prefix}/:key/params`, async (c) => {
      const o = owner(c, prefix, "update");
      const body = await readJson(c, { model: o.def.model, key: o.key, limit: deps.bodyLimit });
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw invalid(o.def.model, o.key, "Params: body must be a JSON object of parameter values");
      }
      return json(await save(c, prefix, o, body as Record<string, unknown>));
    });

    app.patch(`/api/v3/${prefix}/:key/params`, async (c) => {
      const o = owner(c, prefix, "update");
      const ops = await readJson(c, { model: o.def.model, key: o.key, limit: deps.bodyLimit, types: ["application/json-patch+json"] });
      if (!Array.isArray(ops)) throw invalid(o.def.model, o.key, "PATCH body must be a JSON Patch (RFC 6902) array");
      const next = applyPatch(params(o.shown), ops) as Record<string, unknown>;
      return json(await save(c, prefix, o, next));
    });

    app.get(`/api/v3/${prefix}/:key/params/:name`, (c) => {
      const { def, obj, key, shown, access } = owner(c, prefix, "get");
      const name = c.req.param("name");
      const values = c.req.query("aggregate") === "true" ? aggregate(prefix, obj, access) : params(shown);
      if (!(name in values)) throw notFound(def.model, `${key}/params/${name}`);
      return jsonWithEtag(c, values[name]);
    });

    app.post(`/api/v3/${prefix}/:key/params/:name`, async (c) => {
      const o = owner(c, prefix, "update");
      const name = c.req.param("name");
      const value = await readJson(c, { model: o.def.model, key: o.key, limit: deps.bodyLimit });
      const saved = await save(c, prefix, o, { ...params(o.shown), [name]: value });
      return json(saved[name]);
    });

    app.delete(`/api/v3/${prefix}/:key/params/:name`, async (c) => {
      const o = owner(c, prefix, "update");
      const name = c.req.param("name");
      const current = params(o.shown);
      if (!(name in current)) throw notFound(o.def.model, `${o.key}/params/${name}`);
      const { [name]: removed, ...rest } = current;
      await save(c, prefix, o, rest);
      return json(removed);
    });
  }
}
