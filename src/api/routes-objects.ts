// Generic CRUD routes for every type in the model registry (DRP v3 conventions). Every answer is
// the object as its reader may see it (objects.redact): secret fields removed, and Secure param
// values in clear only for holders of getSecure on the object.

import type { Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, may, principalOf, requireClaim, secureAccess, visibleObject } from "./access.ts";
import { jsonWithEtag, readJson, json } from "./http-util.ts";
import { SocleError, invalid } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import { prepareInput } from "./input-hooks.ts";
import { bootFileStatusView } from "./boot-file-status.ts";
import { machineWriteGuard } from "./machine-scope.ts";

export function objectRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { objects } = deps;
  /** A stored object as a client reads it: with its read-time status (files on disk). */
  const seen = async (prefix: string, obj: ModelObject): Promise<ModelObject> => {
    const view = bootFileStatusView(prefix, deps.bootFiles);
    return view === undefined ? obj : (await view.apply([obj]))[0]!;
  };

  const list = async (c: import("hono").Context<ApiEnv>) => {
    const prefix = c.req.param("type")!;
    const def = objects.def(prefix);
    requireClaim(c, prefix, "list");
    const p = principalOf(c);
    const { items, total } = await objects.list(prefix, new URL(c.req.url).searchParams, bootFileStatusView(prefix, deps.bootFiles));
    const visible = items.filter((o) => may(p, prefix, "get", String(o[def.key])));
    const hidden = items.length - visible.length;
    const headers = {
      "X-Socle-List-Count": String(visible.length),
      "X-Socle-List-Total-Count": String(total - hidden),
    };
    const access = secureAccess(p);
    return jsonWithEtag(c, visible.map((o) => objects.redact(def, o, access)), headers);
  };
  app.get("/api/v3/:type", list);
  app.on("HEAD", "/api/v3/:type", list);

  app.post("/api/v3/:type", async (c) => {
    const prefix = c.req.param("type");
    const def = objects.def(prefix);
    requireClaim(c, prefix, "create");
    const body = await readJson(c, { model: def.model, limit: deps.bodyLimit });
    const input = await prepareInput(deps, prefix, body, undefined);
    const created = await seen(prefix, await objects.create(prefix, input));
    return json(objects.redact(def, created, secureAccess(principalOf(c))), 201, { Location: `/api/v3/${prefix}/${encodeURIComponent(objects.keyOf(prefix, created))}` });
  });

  const getOne = async (c: import("hono").Context<ApiEnv>) => {
    const prefix = c.req.param("type")!;
    const def = objects.def(prefix);
    // visibleObject has checked the get claim already (404 without it).
    const obj = visibleObject(c, objects, prefix, c.req.param("key")!);
    return jsonWithEtag(c, objects.redact(def, await seen(prefix, obj), secureAccess(principalOf(c))));
  };
  app.get("/api/v3/:type/:key", getOne);
  app.on("HEAD", "/api/v3/:type/:key", getOne);

  app.put("/api/v3/:type/:key", async (c) => {
    const prefix = c.req.param("type");
    const def = objects.def(prefix);
    const existing = visibleObject(c, objects, prefix, c.req.param("key"));
    const key = String(existing[def.key]);
    const access = secureAccess(requireClaim(c, prefix, "update", key));
    const body = await readJson(c, { model: def.model, key, limit: deps.bodyLimit });
    const guard = machineWriteGuard(principalOf(c), prefix);
    if (guard) {
      // A machine's PUT: first the fields it sent, as sent (so a forbidden one is 403 before any
      // 422, and a Secret it sends is seen), then the whole object as it would be stored. Its
      // input skips prepareInput: the defaultBootEnv rule is about BootEnv, which it may not touch.
      const shown = objects.redact(def, existing, access);
      if (typeof body === "object" && body !== null && !Array.isArray(body)) guard({ ...shown, ...(body as ModelObject) }, shown);
      return json(objects.redact(def, await seen(prefix, await objects.replace(prefix, key, body, guard)), access));
    }
    const input = await prepareInput(deps, prefix, body, existing);
    const saved = await seen(prefix, await objects.replace(prefix, key, input));
    return json(objects.redact(def, saved, access));
  });

  app.patch("/api/v3/:type/:key", async (c) => {
    const prefix = c.req.param("type");
    const def = objects.def(prefix);
    const existing = visibleObject(c, objects, prefix, c.req.param("key"));
    const key = String(existing[def.key]);
    const access = secureAccess(requireClaim(c, prefix, "update", key));
    const ops = await readJson(c, { model: def.model, key, limit: deps.bodyLimit, types: ["application/json-patch+json"] });
    if (!Array.isArray(ops)) throw invalid(def.model, key, "PATCH body must be a JSON Patch (RFC 6902) array of operations");
    // `test` ops compare with what a GET shows, read-time status and secure markers included.
    const shown = await seen(prefix, existing);
    const guard = machineWriteGuard(principalOf(c), prefix);
    const saved = await seen(prefix, await objects.patch(prefix, key, ops, { Available: shown.Available, Errors: shown.Errors }, guard, access));
    return json(objects.redact(def, saved, access));
  });

  app.delete("/api/v3/:type/:key", async (c) => {
    const prefix = c.req.param("type");
    const def = objects.def(prefix);
    const existing = visibleObject(c, objects, prefix, c.req.param("key"));
    const key = String(existing[def.key]);
    const access = secureAccess(requireClaim(c, prefix, "delete", key));
    if (prefix === "users" && principalOf(c).name === key && principalOf(c).kind === "user") {
      throw new SocleError("Conflict", def.model, key, `user "${key}" may not delete itself`);
    }
    const removed: ModelObject = await objects.remove(prefix, key);
    return json(objects.redact(def, removed, access));
  });
}
