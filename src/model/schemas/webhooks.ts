// Webhooks: where to POST the store's changes, which ones (Events), and the key that signs them
// (Secret). The Secret is stored sealed with the secure params key (model/secure-params.ts, owner
// type "webhooks", field "Secret"): no journal line or snapshot holds it in clear, it is never
// returned by a read, and only the API seals it (api/routes-webhooks.ts), so a client can never
// put an envelope here. The sender (src/hooks) opens it for each attempt.
//
// The Url is checked here for its form only; which addresses it may reach (the SSRF rules) depend
// on the server's configuration and its subnets, and are checked by src/hooks at write time and
// again after DNS on every attempt.

import { z } from "zod";
import { defineModel } from "../define.ts";
import { eventPatternProblem } from "../event-patterns.ts";
import { ENVELOPE_FIELD } from "../secure-params.ts";
import { quote } from "../validate.ts";
import { zName, zText } from "./fields.ts";

export const WEBHOOK_URL_MAX = 2048;
export const WEBHOOK_NAME_MAX = 200;

/** Why `raw` is not a webhook URL (form only), or undefined. */
export function webhookUrlProblem(raw: string): string | undefined {
  if (raw.length > WEBHOOK_URL_MAX) return `is ${raw.length} characters long, at most ${WEBHOOK_URL_MAX} allowed`;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `${quote(raw)} is not an absolute URL`;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return `${quote(raw)}: scheme must be https (or http to an IP address), got ${quote(u.protocol.slice(0, -1))}`;
  if (u.username !== "" || u.password !== "") return `${quote(raw)}: credentials in the URL are not allowed (they would be stored and shown in clear); the receiver checks Socle-Signature instead`;
  if (u.hash !== "") return `${quote(raw)}: a #fragment means nothing to a receiver; remove it`;
  // WHATWG URL parsing writes every IPv4 spelling (2130706433, 0x7f.1, 0177.0.0.1) as dotted
  // decimal and IPv6 in brackets, so this test sees the address the request would go to.
  const literal = /^\d+\.\d+\.\d+\.\d+$/.test(u.hostname) || u.hostname.startsWith("[");
  if (u.protocol === "http:" && !literal) return `${quote(raw)}: plain http is allowed only to an IP address (a name could be answered by anyone on the path); use https`;
  return undefined;
}

const zSealed = () => z.strictObject({ [ENVELOPE_FIELD]: z.string() }).describe("Sealed by the server; set it by sending a string (POST/PUT), never returned");

export const webhooks = defineModel({
  prefix: "webhooks",
  key: "Name",
  shape: {
    Name: zName(),
    Description: zText().default(""),
    Url: z
      .string()
      .check((ctx) => {
        const why = webhookUrlProblem(ctx.value);
        if (why) ctx.issues.push({ code: "custom", message: why, input: ctx.value });
      })
      .describe("Where deliveries are POSTed: https, or http to an IP address"),
    Events: z
      .array(z.string())
      .min(1)
      .describe('Patterns over "<type>.<action>": "machines.*", "jobs.update", "*.delete", "*" (a wildcard type leaves leases out; name "leases" to get them)'),
    Secret: zSealed(),
    Enabled: z.boolean().default(true),
    MaxAttempts: z.number().int().min(1).max(50).default(8).describe("Attempts before a delivery goes to the dead letter, 1..50"),
    TimeoutSeconds: z.number().int().min(1).max(60).default(10).describe("How long one attempt may take, 1..60 s"),
  },
  indexes: { Enabled: { unique: false, kind: "boolean" } },
  secretFields: ["Secret"],
  check: (obj) => {
    const out: string[] = [];
    // The name is also the delivery log's file name (<name>.jsonl), which must fit in 255 bytes.
    if (typeof obj.Name === "string" && Buffer.byteLength(obj.Name) > WEBHOOK_NAME_MAX) out.push(`Name: ${quote(obj.Name.slice(0, 40))}... is ${Buffer.byteLength(obj.Name)} bytes long, at most ${WEBHOOK_NAME_MAX} allowed for a webhook`);
    if (!Array.isArray(obj.Events)) return out;
    obj.Events.forEach((p, i) => {
      const why = eventPatternProblem(p);
      if (why) out.push(`Events[${i}]: ${why}`);
    });
    return out;
  },
});
