// POST /api/v3/render: preview any template or boot file for a machine (or for unknown machines),
// exactly as the boot core would serve it, and say which layer each parameter came from.
//
//   body  { Machine?: key | "Index:value", BootEnv?: name,
//           and exactly one of  Template: ID (or a template Name of the env) | Contents: text | Path }
//   200   { Output, Params: [{ Name, Value, Source: "machine" | "profile:<name>" | "global" | "default" }] }
//   422   naming the missing parameter or template and the line, or the bad field
//
// ProvisionerURL and ApiURL are built from the host this API request was addressed to.
// GenerateToken() in a preview issues a real token only when the caller could get one anyway
// (claim machines/token on that machine; machines/create for a registration token); otherwise
// the output carries TOKEN-WITHHELD in its place, so a render claim never leaks credentials.
// Contents (template text that is not stored) is code run in the server, like a Template write:
// it needs the claim to create templates as well.

import type { Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, may, requireClaim } from "./access.ts";
import { json, readJson } from "./http-util.ts";
import { SocleError, invalid } from "../model/errors.ts";
import type { TokenIssuer } from "../boot/core.ts";
import type { Principal } from "../auth/claims.ts";

export const WITHHELD_TOKEN = "TOKEN-WITHHELD";
const FIELDS = ["Machine", "BootEnv", "Template", "Contents", "Path"] as const;
type RenderBody = Partial<Record<(typeof FIELDS)[number], string>>;

export function renderRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.post("/api/v3/render", async (c) => {
    const principal = requireClaim(c, "render", "render");
    const boot = deps.boot;
    if (!boot) throw new SocleError("Unavailable", "render", "", "render preview is unavailable: the boot core is not running");
    const body = parseBody(await readJson(c, { model: "render", limit: deps.bodyLimit }));
    // Contents is new template code, run in the server: only who may write templates may send it.
    if (body.Contents !== undefined) requireClaim(c, "templates", "create");
    let machine;
    if (body.Machine !== undefined) {
      machine = deps.objects.find("machines", body.Machine);
      if (!machine) throw invalid("render", body.Machine, `Machine: machine ${JSON.stringify(body.Machine)} not found`);
    }
    const result = boot.preview({
      machine,
      env: body.BootEnv,
      template: body.Template,
      contents: body.Contents,
      path: body.Path,
      serverAddress: new URL(c.req.url).hostname.replace(/^\[(.*)\]$/, "$1"),
      tokens: previewTokens(deps, principal),
    });
    return json(result);
  });
}

function parseBody(body: unknown): RenderBody {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid("render", "", `expected a JSON object with ${FIELDS.join(", ")}, got ${JSON.stringify(body)}`);
  }
  const problems: string[] = [];
  const out: RenderBody = {};
  for (const [k, v] of Object.entries(body)) {
    if (!(FIELDS as readonly string[]).includes(k)) problems.push(`${k}: unknown field; valid fields: ${FIELDS.join(", ")}`);
    else if (typeof v !== "string") problems.push(`${k}: expected a string, got ${JSON.stringify(v)}`);
    else out[k as (typeof FIELDS)[number]] = v;
  }
  if (problems.length > 0) throw invalid("render", "", problems);
  return out;
}

function previewTokens(deps: ApiDeps, p: Principal): TokenIssuer {
  return {
    machine(uuid, ttl) {
      const m = deps.store.get("machines", uuid);
      if (!m || !may(p, "machines", "token", uuid)) return WITHHELD_TOKEN;
      return deps.authn.tokenForMachine(m, ttl).token;
    },
    registration(ttl) {
      if (!may(p, "machines", "create", "*")) return WITHHELD_TOKEN;
      return deps.authn.tokenForRegistration(ttl).token;
    },
  };
}
