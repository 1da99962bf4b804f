// POST /api/v3/render: preview any template or boot file for a machine (or for unknown machines),
// exactly as the boot core would serve it, and say which layer each parameter came from.
//
//   body  { Machine?: key | "Index:value", BootEnv?: name,
//           and exactly one of  Template: ID (or a template Name of the env) | Contents: text | Path
//                             | Format: name | Formats: [name...] }
//   200   { Output, Params: [{ Name, Value, Source: "machine" | "profile:<name>" | "global" | "default" }] }
//         Format:  { Format, ContentType, Output, Params }
//         Formats: { Formats: [{ Format, ContentType, Output }], Params (every format's, once) }
//   400   an unknown format, naming it and the known ones (osconfig/formats.ts)
//   422   naming the missing parameter or template and the line, or the bad field
//
// A format is the machine's OS profile (osconfig/) rendered as that format (it.OsConfig.Format),
// with the BootEnv's OS family choosing a variant (Flatcar or Fedora CoreOS Ignition). It is Socle's
// own template code, so it needs no claim to create templates.
//
// ProvisionerURL and ApiURL are built from the host this API request was addressed to.
// GenerateToken() in a preview issues a real token only when the caller could get one anyway
// (claim machines/token on that machine; machines/create for a registration token); otherwise
// the output carries TOKEN-WITHHELD in its place, so a render claim never leaks credentials.
// Contents (template text that is not stored) is code run in the server, like a Template write:
// it needs the claim to create templates as well.
// A render for a known machine shows what that machine's files hold (its kickstart carries the
// password hash, its Ignition the Secure params), so it needs the claim to get that machine as
// well: the one named by Machine, and the one whose MAC a per-MAC loader Path names
// (boot/<mac>.ipxe, grub/boot/<mac>.cfg), which the preview renders for that machine.
// Secure params are rendered in clear only where the caller holds getSecure on the machine or
// profile that holds them; elsewhere the template gets "[secure]" in their place, so neither the
// Output nor Params carries them (nor anything a template computes from them).

import type { Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, may, requireClaim } from "./access.ts";
import { json, readJson } from "./http-util.ts";
import { SocleError, invalid } from "../model/errors.ts";
import type { PreviewResult, TokenIssuer } from "../boot/core.ts";
import { dispatchMac } from "../boot/ipxe-dispatch.ts";
import { grubDispatchMac } from "../boot/grub-dispatch.ts";
import { normaliseRequestPath } from "../files/paths.ts";
import type { Principal } from "../auth/claims.ts";
import type { ModelObject } from "../model/object.ts";
import { FORMATS, formatNames } from "../osconfig/formats.ts";

export const WITHHELD_TOKEN = "TOKEN-WITHHELD";
/** What it.MachineCert() shows in a preview, for Cert and Key: previews never issue certificates. */
export const WITHHELD_CERT = "MACHINE-CERT-WITHHELD-IN-PREVIEW";
const FIELDS = ["Machine", "BootEnv", "Template", "Contents", "Path", "Format", "Formats"] as const;
type RenderBody = Partial<Record<Exclude<(typeof FIELDS)[number], "Formats">, string>> & { Formats?: string[] };

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
      requireMachineRead(principal, machine, `Machine ${JSON.stringify(body.Machine)}`);
    }
    let path: string | undefined;
    if (body.Path !== undefined) {
      // Normalised as the file servers do (files/paths.ts), and the very path checked here is the
      // one rendered: "boot//<mac>.ipxe" or "boot\<mac>.ipxe" is that MAC's script, checked as such.
      const norm = normaliseRequestPath(body.Path);
      if (!norm.ok) throw invalid("render", body.Path, `Path: ${JSON.stringify(body.Path)} is no path a client could ask for: ${norm.reason}`);
      path = norm.path;
      // Per-MAC loader paths only: the preview renders those for the MAC's machine (boot core's
      // machineOf); any other Path renders for Machine, checked above.
      const owner = dispatchMac(path) ?? grubDispatchMac(path) ? await boot.machineOf(path) : undefined;
      if (owner) requireMachineRead(principal, owner, `Path ${JSON.stringify(body.Path)}`);
    }
    const formats = body.Formats ?? (body.Format !== undefined ? [body.Format] : undefined);
    if (formats !== undefined) {
      const other = (["Template", "Contents", "Path"] as const).filter((k) => body[k] !== undefined);
      if (other.length) throw invalid("render", "", `${body.Formats ? "Formats" : "Format"}: cannot be combined with ${other.join(" and ")}`);
      const unknown = formats.filter((f) => !Object.hasOwn(FORMATS, f));
      if (unknown.length) throw new SocleError("BadRequest", "render", unknown[0]!, `${body.Formats ? "Formats" : "Format"}: unknown format ${unknown.map((f) => JSON.stringify(f)).join(", ")}; known: ${formatNames().join(", ")}`);
      const params = new Map<string, PreviewResult["Params"][number]>();
      const out: Array<{ Format: string; ContentType: string; Output: string }> = [];
      for (const name of formats) {
        const r = await boot.preview({
          machine,
          env: body.BootEnv,
          contents: `<%= it.OsConfig.Format(${JSON.stringify(name)}) %>`,
          serverAddress: new URL(c.req.url).hostname.replace(/^\[(.*)\]$/, "$1"),
          tokens: previewTokens(deps, principal),
          reveal: (owner) => may(principal, owner.type, "getSecure", owner.key),
        });
        out.push({ Format: name, ContentType: FORMATS[name]!.contentType, Output: r.Output });
        for (const p of r.Params) params.set(p.Name, p);
      }
      const Params = [...params.values()].sort((a, b) => a.Name.localeCompare(b.Name));
      return json(body.Formats ? { Formats: out, Params } : { ...out[0]!, Params });
    }
    const result = await boot.preview({
      machine,
      env: body.BootEnv,
      template: body.Template,
      contents: body.Contents,
      path,
      serverAddress: new URL(c.req.url).hostname.replace(/^\[(.*)\]$/, "$1"),
      tokens: previewTokens(deps, principal),
      reveal: (owner) => may(principal, owner.type, "getSecure", owner.key),
    });
    return json(result);
  });
}

/**
 * Refuse a render for a machine the caller may not read. The message names the machine as the
 * caller referred to it, so a refusal reveals no Uuid the caller did not send.
 */
function requireMachineRead(p: Principal, machine: ModelObject, asGiven: string): void {
  if (may(p, "machines", "get", String(machine.Uuid))) return;
  throw new SocleError("Forbidden", "render", "", `${p.kind} "${p.name}" may not render for ${asGiven}: rendering for a machine needs the claim to get that machine`);
}

function parseBody(body: unknown): RenderBody {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid("render", "", `expected a JSON object with ${FIELDS.join(", ")}, got ${JSON.stringify(body)}`);
  }
  const problems: string[] = [];
  const out: RenderBody = {};
  for (const [k, v] of Object.entries(body)) {
    if (!(FIELDS as readonly string[]).includes(k)) problems.push(`${k}: unknown field; valid fields: ${FIELDS.join(", ")}`);
    else if (k === "Formats") {
      if (!Array.isArray(v) || v.length === 0 || !v.every((f) => typeof f === "string")) problems.push(`Formats: expected a non-empty list of format names, got ${JSON.stringify(v)}`);
      else out.Formats = [...new Set(v as string[])];
    } else if (typeof v !== "string") problems.push(`${k}: expected a string, got ${JSON.stringify(v)}`);
    else out[k as Exclude<(typeof FIELDS)[number], "Formats">] = v;
  }
  if (out.Format !== undefined && out.Formats !== undefined) problems.push("Format: give Format or Formats, not both");
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
    // A preview never issues a certificate: its key would be shown to whoever previews.
    machineCert: async () => ({ Cert: WITHHELD_CERT, Key: WITHHELD_CERT, Ca: deps.machineCa?.caPem ?? "" }),
  };
}
