// Per-machine certificates through the API (pki/machine-ca.ts holds the record and the policy):
//
// - POST /api/v3/machines/<uuid>/csr: a PEM certificate signing request in the body (text, or JSON
//   {"Csr": "..."}); answers the certificate (PEM) signed by the built-in CA. Its names are the
//   machine's Uuid and Name from the store, never the request's. Who may: that machine's agent
//   (its agent token, or its current client certificate, to renew), and operators with the
//   `token` claim on the machine (they may already mint its credentials). Not a plain machine
//   token (those travel in boot files over plain HTTP), not a job's token, not another machine.
//   With "Accept: application/x-pem-file" the answer is the PEM alone; Socle-Cert-Serial and
//   Socle-Cert-Lifetime (seconds) are always set.
// - GET /api/v3/pki/crl: the CRL, PEM (?format=der for DER). Open, as on the boot file server
//   (/socle/crl.pem): a CRL is signed and public by nature.
// - GET /api/v3/machines/<uuid>/certs: the record of the machine's certificates (operators).

import type { Context, Hono } from "hono";
import type { ApiDeps } from "./deps.ts";
import { type ApiEnv, principalOf, requireClaim, visibleObject } from "./access.ts";
import { json, readBytes } from "./http-util.ts";
import { SocleError, badRequest } from "../model/errors.ts";
import { fieldString } from "../model/object.ts";
import { quote } from "../model/validate.ts";
import { CSR_MAX_CHARS, MACHINE_VALIDITY_DAYS } from "../pki/machine-certs.ts";
import type { MachineCa } from "../pki/machine-ca.ts";

export const CRL_PATH = "/api/v3/pki/crl";

export function pkiRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { objects } = deps;
  const ca = (key: string): MachineCa => {
    if (!deps.machineCa) {
      throw new SocleError("Unavailable", "pki", key, "machine certificates come from the built-in CA, which this server does not use (it runs with --tls-cert)");
    }
    return deps.machineCa;
  };

  app.get(CRL_PATH, (c) => {
    const mca = ca("crl");
    const format = c.req.query("format") ?? "pem";
    if (format === "der") return new Response(new Uint8Array(mca.crlDer()), { headers: { "Content-Type": "application/pkix-crl", "Cache-Control": "no-cache" } });
    if (format !== "pem") throw badRequest("pki", "crl", `format: expected "pem" or "der", got ${quote(format)}`);
    return new Response(mca.crlPem(), { headers: { "Content-Type": "application/x-pem-file", "Cache-Control": "no-cache" } });
  });

  app.post("/api/v3/machines/:key/csr", async (c) => {
    const askedAt = Date.now();
    const machine = visibleObject(c, objects, "machines", c.req.param("key"));
    const uuid = String(machine.Uuid);
    const p = principalOf(c);
    if (p.kind === "machine") {
      // visibleObject let only this machine's own principals through.
      if (p.use === "job") throw new SocleError("Forbidden", "machines", uuid, "csr: a job's token gets no certificate; the agent asks with its own token");
      if (p.use !== "agent") {
        throw new SocleError("Forbidden", "machines", uuid, "csr: a plain machine token (from a boot file) gets no certificate; the agent asks with its agent token (GET /machines/<uuid>/token) or its current certificate");
      }
    } else requireClaim(c, "machines", "token", uuid);
    const mca = ca(uuid);
    const csr = await csrText(c, uuid);
    // The body may have taken long: the machine must still be the one that was authenticated.
    const now = objects.find("machines", uuid);
    if (!now || now.Secret !== machine.Secret) throw new SocleError("Conflict", "machines", uuid, "csr: the machine was deleted or its credentials rotated while this request arrived");
    const issued = await mca.issueForCsr({ Uuid: uuid, Name: fieldString(now.Name) }, csr, askedAt);
    // A shell (the agent) asks for the PEM itself; the headers say what it needs to renew.
    const lifetime = String(MACHINE_VALIDITY_DAYS * 24 * 3600);
    const headers = { "Socle-Cert-Serial": issued.serial, "Socle-Cert-Lifetime": lifetime };
    if ((c.req.header("accept") ?? "").includes("application/x-pem-file")) {
      return new Response(issued.certPem, { status: 201, headers: { ...headers, "Content-Type": "application/x-pem-file" } });
    }
    return json({ Machine: uuid, Serial: issued.serial, NotAfter: issued.notAfter.toISOString(), Cert: issued.certPem, Ca: mca.caPem }, 201, headers);
  });

  app.get("/api/v3/machines/:key/certs", (c) => {
    const machine = visibleObject(c, objects, "machines", c.req.param("key"));
    const uuid = String(machine.Uuid);
    requireClaim(c, "machines", "token", uuid);
    return json(ca(uuid).certsOf(uuid));
  });
}

/** The CSR of the request: the body as text (PEM), or JSON {"Csr": "<PEM>"}. */
async function csrText(c: Context<ApiEnv>, uuid: string): Promise<string> {
  const limit = CSR_MAX_CHARS;
  const bytes = await readBytes(c, limit, () => new SocleError("PayloadTooLarge", "machines", uuid, `csr: request body is larger than ${limit} bytes`));
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === "") throw badRequest("machines", uuid, "csr: body is empty; send a PEM certificate request (openssl req -new) or JSON {\"Csr\": \"<PEM>\"}");
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") return text;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw badRequest("machines", uuid, `csr: invalid JSON body: ${(err as Error).message}`);
  }
  const csr = typeof body === "object" && body !== null ? (body as Record<string, unknown>).Csr : undefined;
  if (typeof csr !== "string") throw badRequest("machines", uuid, `csr: expected JSON {"Csr": "<PEM>"}, got ${quote(body)}`);
  return csr;
}
