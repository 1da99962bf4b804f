// Webhooks (src/hooks): their CRUD, because the Secret is written as a string and stored sealed,
// which the generic routes do not do (they refuse secret fields from clients), and their
// delivery log. Mounted before objectRoutes, whose /api/v3/:type would take "webhooks"; DELETE
// and HEAD fall through to the generic routes (a delete answers without the Secret).
//
// The Secret is never in an answer but one: the create that generated it (no Secret sent) shows
// it once. Reads show "(set)" in its place. GET .../secret opens it for holders of getSecure on the
// hook, as for Secure params. Writes that send "(set)" back, or no Secret, keep the stored one.
// The Url's addresses are checked against the SSRF rules (hooks/address-policy.ts) at every
// write, and again by the sender on every attempt.

import type { Context, Hono } from "hono";
import { randomBytes } from "node:crypto";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, may, principalOf, requireClaim, visibleObject } from "./access.ts";
import { intParam, json, jsonWithEtag, readJson } from "./http-util.ts";
import { SocleError, badRequest, invalid } from "../model/errors.ts";
import type { ModelObject } from "../model/object.ts";
import { applyPatch } from "../model/json-patch.ts";
import { eventPatternProblem } from "../model/event-patterns.ts";
import { MODELS, modelFor } from "../model/registry.ts";
import type { ModelDef } from "../model/model-def.ts";
import { ENVELOPE_FIELD } from "../model/secure-params.ts";
import { webhookUrlProblem } from "../model/schemas/webhooks.ts";
import { openWebhookSecret, type WebhookControl, type WebhookDeps } from "../hooks/sender.ts";
import type { AddressPolicy } from "../hooks/address-policy.ts";

/** What a read shows in place of the Secret. */
export const SECRET_SET = "(set)";
const SECRET_MIN = 16;
const SECRET_MAX = 512;
/** How long a write waits for DNS to check a Url's name (no answer: the sender checks later). */
const WRITE_LOOKUP_MS = 3000;

const MODEL = "webhooks";

/**
 * A webhook carries every change its patterns match, whoever may read them: so it may only name
 * what its writer may read (get on every object of each type it would send). Without this, the
 * webhooks claim alone would read the whole store through a receiver of one's own.
 */
function requireReadableEvents(c: Context<ApiEnv>, events: unknown): void {
  if (!Array.isArray(events)) return; // the model's own check names it
  const p = principalOf(c);
  for (const pattern of events) {
    if (typeof pattern !== "string") continue;
    const type = pattern === "*" ? "*" : pattern.slice(0, Math.max(0, pattern.indexOf(".")));
    // A wildcard takes the store's other types too (prefs), leases only when named.
    const types = type === "*" ? [...Object.keys(MODELS).filter((t) => t !== "leases"), "prefs"] : [type];
    const unreadable = types.find((t) => (modelFor(t) || t === "prefs") && !may(p, t, "get", "*"));
    if (unreadable !== undefined) {
      throw new SocleError("Forbidden", MODEL, "", [`Events: "${pattern.slice(0, 100)}" would send ${unreadable} changes, which ${p.kind} "${p.name}" may not read (a webhook carries only what its writer may get)`]);
    }
  }
}

export function webhookRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { objects } = deps;
  const wh = (): WebhookDeps => {
    if (!deps.webhooks) throw new SocleError("Unavailable", MODEL, "", "webhooks are not available on this server");
    return deps.webhooks;
  };
  const control = (): WebhookControl => {
    const c = wh().control;
    if (!c) throw new SocleError("Unavailable", MODEL, "", "this node does not send webhooks");
    return c;
  };
  const shown = (obj: ModelObject): ModelObject => ({ ...objects.redact(objects.def(MODEL), obj), Secret: SECRET_SET });

  app.get("/api/v3/webhooks", async (c) => {
    requireClaim(c, MODEL, "list");
    const p = principalOf(c);
    const { items, total } = await objects.list(MODEL, new URL(c.req.url).searchParams);
    const visible = items.filter((o) => may(p, MODEL, "get", String(o.Name)));
    return jsonWithEtag(c, visible.map(shown), { "X-Socle-List-Count": String(visible.length), "X-Socle-List-Total-Count": String(total - (items.length - visible.length)) });
  });

  app.get("/api/v3/webhooks/:key", (c) => json(shown(visibleObject(c, objects, MODEL, c.req.param("key")))));

  app.post("/api/v3/webhooks", async (c) => {
    requireClaim(c, MODEL, "create");
    const body = await readJson(c, { model: MODEL, limit: deps.bodyLimit });
    const input = objectBody(body, "");
    const name = typeof input.Name === "string" ? input.Name : "";
    let generated: string | undefined;
    requireReadableEvents(c, input.Events);
    if (input.Secret === undefined) input.Secret = generated = randomBytes(32).toString("base64url");
    const prepared = await checkedInput(wh(), objects.def(MODEL), name, input, undefined);
    const created = await objects.create(MODEL, prepared);
    const out = shown(created);
    if (generated !== undefined) out.Secret = generated;
    return json(out, 201, { Location: `/api/v3/webhooks/${encodeURIComponent(String(created.Name))}` });
  });

  const replace = async (c: Context<ApiEnv>, next: (existing: ModelObject) => Promise<unknown>) => {
    const existing = visibleObject(c, objects, MODEL, c.req.param("key")!);
    const key = String(existing.Name);
    requireClaim(c, MODEL, "update", key);
    const input = objectBody(await next(existing), key);
    requireReadableEvents(c, input.Events);
    const saved = await objects.replace(MODEL, key, await checkedInput(wh(), objects.def(MODEL), key, input, existing));
    return json(shown(saved));
  };
  app.put("/api/v3/webhooks/:key", (c) => replace(c, () => readJson(c, { model: MODEL, key: c.req.param("key"), limit: deps.bodyLimit })));
  app.patch("/api/v3/webhooks/:key", (c) =>
    replace(c, async (existing) => {
      const key = String(existing.Name);
      const ops = await readJson(c, { model: MODEL, key, limit: deps.bodyLimit, types: ["application/json-patch+json"] });
      if (!Array.isArray(ops)) throw invalid(MODEL, key, "PATCH body must be a JSON Patch (RFC 6902) array of operations");
      return applyPatch(shown(existing), ops, { model: MODEL, key });
    }),
  );

  app.get("/api/v3/webhooks/:key/secret", (c) => {
    const obj = visibleObject(c, objects, MODEL, c.req.param("key"));
    const key = String(obj.Name);
    requireClaim(c, MODEL, "getSecure", key);
    return json({ Name: key, Secret: openWebhookSecret(wh().cipher, obj) });
  });

  app.get("/api/v3/webhooks/:key/deliveries", async (c) => {
    const obj = visibleObject(c, objects, MODEL, c.req.param("key"));
    const key = String(obj.Name);
    requireClaim(c, MODEL, "deliveries", key);
    const limit = intParam(c, "limit", MODEL, 100, 10_000);
    return json(await control().deliveries(key, limit));
  });

  app.post("/api/v3/webhooks/:key/redeliver", async (c) => {
    const obj = visibleObject(c, objects, MODEL, c.req.param("key"));
    const key = String(obj.Name);
    requireClaim(c, MODEL, "redeliver", key);
    const body = objectBody(await readJson(c, { model: MODEL, key, limit: 64 * 1024 }), key);
    if (typeof body.Id !== "string" || body.Id === "") throw badRequest(MODEL, key, `Id: expected a delivery id like "${key}-42", got ${JSON.stringify(body.Id) ?? "nothing"}`);
    return json(await control().redeliver(key, body.Id), 202);
  });

  app.post("/api/v3/webhooks/:key/ping", async (c) => {
    const obj = visibleObject(c, objects, MODEL, c.req.param("key"));
    const key = String(obj.Name);
    requireClaim(c, MODEL, "ping", key);
    return json(await control().ping(key));
  });
}

function objectBody(body: unknown, key: string): ModelObject {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid(MODEL, key, `expected a JSON object, got ${JSON.stringify(body)?.slice(0, 40) ?? "nothing"}`);
  return { ...(body as ModelObject) };
}

/**
 * The input with its Secret sealed (or left out, to keep the stored one) after the checks the
 * model cannot make: the Secret's form, known types in Events, and the Url's addresses.
 */
async function checkedInput(wh: WebhookDeps, def: ModelDef, name: string, input: ModelObject, existing: ModelObject | undefined): Promise<ModelObject> {
  const problems: string[] = [];
  const secret = input.Secret;
  if (secret === undefined || (secret === SECRET_SET && existing)) delete input.Secret;
  else if (typeof secret !== "string") problems.push(`Secret: expected a string, got ${secret === null ? "null" : Array.isArray(secret) ? "array" : typeof secret}`);
  else if (secret === SECRET_SET) problems.push(`Secret: ${JSON.stringify(SECRET_SET)} stands for a stored secret, and a new webhook has none; send the secret itself or leave it out`);
  else if (secret.length < SECRET_MIN || secret.length > SECRET_MAX) problems.push(`Secret: must be ${SECRET_MIN} to ${SECRET_MAX} characters, got ${secret.length} (the value is not shown)`);
  if (Array.isArray(input.Events)) {
    input.Events.forEach((p, i) => {
      const why = eventPatternProblem(p, (t) => modelFor(t) !== undefined);
      if (why) problems.push(`Events[${i}]: ${why}`);
    });
  }
  if (typeof input.Url === "string") {
    const why = await urlRefusal(wh.policy, input.Url);
    if (why) problems.push(`Url: ${why}`);
  }
  if (problems.length > 0) {
    // With the model's own findings, so one answer names every bad field.
    try {
      def.prepare({ ...input, Secret: { [ENVELOPE_FIELD]: "" } }, existing);
    } catch (err) {
      if (!(err instanceof SocleError)) throw err;
      for (const m of err.messages) if (!problems.includes(m)) problems.push(m);
    }
    throw invalid(MODEL, name, problems);
  }
  if (typeof input.Secret === "string") input.Secret = wh.cipher.seal({ type: "webhooks", key: name }, "Secret", input.Secret);
  return input;
}

/** Why the Url's address is refused now; undefined when it passes or DNS gives no answer in time. */
async function urlRefusal(policy: AddressPolicy, raw: string): Promise<string | undefined> {
  if (webhookUrlProblem(raw) !== undefined) return undefined; // the model reports the form
  const url = new URL(raw);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), WRITE_LOOKUP_MS)));
  try {
    const r = await Promise.race([policy.resolve(url).then(() => undefined), late]);
    return r === "late" ? undefined : r;
  } catch (err) {
    const msg = (err as Error).message;
    // A name that does not resolve now may resolve later; the sender checks every attempt.
    return msg.startsWith("refused:") ? msg : undefined;
  } finally {
    clearTimeout(timer);
  }
}
