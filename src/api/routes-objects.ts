// Generic CRUD routes for every type in the model registry (DRP v3 conventions). Every answer is
// the object as its reader may see it (objects.redact): secret fields removed, and Secure param
// values in clear only for holders of getSecure on the object.

import type { Context, Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, may, principalOf, requireClaim, secureAccess, visibleObject } from "./access.ts";
import { clientAddress, errorResponse, jsonWithEtag, readJson, json } from "./http-util.ts";
import { SocleError, invalid } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import { prepareInput } from "./input-hooks.ts";
import { bootFileStatusView } from "./boot-file-status.ts";
import { machineWriteGuard } from "./machine-scope.ts";
import { taskClaimsGuard } from "./task-claims.ts";
import { ObjectWaiters, noneMatchHits, parsePreferWait, preferenceApplied, representationEtag } from "./long-poll.ts";

export function objectRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { objects } = deps;
  /** A stored object as a client reads it: with its read-time status (files on disk). */
  const seen = async (prefix: string, obj: ModelObject): Promise<ModelObject> => {
    const view = bootFileStatusView(prefix, deps.bootFiles);
    return view === undefined ? obj : (await view.apply([obj]))[0]!;
  };

  const list = async (c: Context<ApiEnv>) => {
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
    const p = requireClaim(c, prefix, "create");
    const body = await readJson(c, { model: def.model, limit: deps.bodyLimit });
    const input = await prepareInput(deps, prefix, body, undefined);
    const created = await seen(prefix, await objects.create(prefix, input, taskClaimsGuard(p, prefix)));
    return json(objects.redact(def, created, secureAccess(principalOf(c))), 201, { Location: `/api/v3/${prefix}/${encodeURIComponent(objects.keyOf(prefix, created))}` });
  });

  // GET one object, and the long-poll of it (long-poll.ts): with `If-None-Match` naming what the
  // client holds and `Prefer: wait=`, the answer waits for the object to change. The caller's
  // access is checked before the wait and again, from its credentials, before every answer after
  // it: a token revoked or a role taken away while waiting gets 401 or 404, never the object.
  const waiters = new ObjectWaiters(deps.store);
  /** Long polls waiting now, per machine token (by machine Uuid). */
  const waitsOf = new Map<string, number>();
  const getOne = async (c: Context<ApiEnv>) => {
    const prefix = c.req.param("type")!;
    const def = objects.def(prefix);
    let ref = c.req.param("key")!;
    const wait = parsePreferWait(c.req.header("prefer"), def.model, ref);
    const ifNoneMatch = c.req.header("if-none-match");
    /** The object as this caller reads it now; 404 when it is gone or hidden from the caller. */
    const look = async () => {
      // visibleObject has checked the get claim already (404 without it).
      const obj = visibleObject(c, objects, prefix, ref);
      const text = JSON.stringify(objects.redact(def, await seen(prefix, obj), secureAccess(principalOf(c))));
      return { key: objects.keyOf(prefix, obj), text, etag: representationEtag(text) };
    };
    let seq = deps.store.seq;
    let current = await look();
    if (ifNoneMatch === undefined || !noneMatchHits(ifNoneMatch, current.etag)) return objectAnswer(c, current);
    if (!wait) return notModified(current.etag);

    // A machine's token may hold a few waits at once, not thousands: each holds a connection and
    // a timer, and machine tokens travel in boot files over the provisioning network. (Users are
    // operators: `socle machines wait` over a rack holds one per machine.)
    const p = principalOf(c);
    const who = p.kind === "machine" ? p.name : undefined;
    const held = who === undefined ? 0 : (waitsOf.get(who) ?? 0);
    if (who !== undefined && held >= MAX_MACHINE_WAITS) {
      throw new SocleError("TooManyRequests", def.model, ref, `machine ${who} has ${held} long polls waiting already (at most ${MAX_MACHINE_WAITS}); retry in 1 s`);
    }
    if (who !== undefined) waitsOf.set(who, held + 1);
    const applied = preferenceApplied(wait);
    const deadline = Date.now() + wait;
    // From here on the object is looked up by its key: a rename must not make the wait follow
    // another object that takes the name.
    ref = current.key;
    /** Whether what the caller would read now differs from what it holds (gone or hidden: yes). */
    const differs = async () => {
      try {
        return !noneMatchHits(ifNoneMatch, (await look()).etag);
      } catch (err) {
        if (err instanceof SocleError) return true;
        throw err;
      }
    };
    try {
      for (;;) {
        // Something committed while `look` awaited: look again before waiting, so it is not missed.
        const outcome = deps.store.seq !== seq ? "change" : await waiters.next(prefix, current.key, deadline, c.req.raw.signal);
        if (outcome === "abort") return notModified(current.etag, applied); // nobody reads it
        seq = deps.store.seq;
        const over = outcome === "timeout" || Date.now() >= deadline;
        if (!over && !(await differs())) continue; // a change the caller cannot see
        // About to answer: the caller's credentials and claims as they are now.
        c.set("principal", await deps.authn.authenticate(c.req.header("authorization") ?? null, clientAddress(c)));
        current = await look();
        if (!noneMatchHits(ifNoneMatch, current.etag)) return objectAnswer(c, current, applied);
        if (over) return notModified(current.etag, applied);
      }
    } catch (err) {
      if (!(err instanceof SocleError)) throw err;
      const res = errorResponse(err);
      for (const [h, v] of Object.entries(applied)) res.headers.set(h, v);
      return res;
    } finally {
      if (who !== undefined) {
        const left = (waitsOf.get(who) ?? 1) - 1;
        if (left > 0) waitsOf.set(who, left);
        else waitsOf.delete(who);
      }
    }
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
    const saved = await seen(prefix, await objects.replace(prefix, key, input, taskClaimsGuard(principalOf(c), prefix)));
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
    const guard = machineWriteGuard(principalOf(c), prefix) ?? taskClaimsGuard(principalOf(c), prefix);
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

const CACHE_HEADERS = { "Cache-Control": "no-cache" };

/** One object's JSON with its ETag (HEAD: the headers only). */
function objectAnswer(c: Context<ApiEnv>, o: { text: string; etag: string }, extra: Record<string, string> = {}): Response {
  const headers = { ETag: o.etag, ...CACHE_HEADERS, ...extra };
  if (c.req.method === "HEAD") return new Response(null, { status: 200, headers });
  return new Response(o.text, { status: 200, headers: { "Content-Type": "application/json", ...headers } });
}

/** Long polls one machine's tokens may have waiting at once (its agent needs one). */
export const MAX_MACHINE_WAITS = 8;

function notModified(etag: string, extra: Record<string, string> = {}): Response {
  return new Response(null, { status: 304, headers: { ETag: etag, ...CACHE_HEADERS, ...extra } });
}

