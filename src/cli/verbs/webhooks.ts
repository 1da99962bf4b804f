// Webhook extras: `webhooks deliveries <name> [--limit n]` (the delivery log, newest first),
// `webhooks redeliver <name> <id>` (queue a delivered or dead one again), `webhooks ping <name>`
// (send a test event now and print the attempt), `webhooks secret <name>` (needs getSecure).

import { keyPath } from "../api-client.ts";
import type { VerbContext } from "../context.ts";
import { countFlag, parseVerbArgs } from "../verb-args.ts";
import { usageOf, type VerbSpec } from "../verb-spec.ts";

const DELIVERIES: VerbSpec = {
  path: ["webhooks", "deliveries"],
  synopsis: "<name>",
  flags: [{ name: "limit", kind: "value" }],
  summary: "the delivery log, newest first (--limit, default 100)",
  run: deliveries,
};

const REDELIVER: VerbSpec = {
  path: ["webhooks", "redeliver"],
  synopsis: "<name> <id>",
  flags: [],
  summary: "queue a delivered or dead delivery again (its id, e.g. hook-42)",
  run: redeliver,
};

const PING: VerbSpec = {
  path: ["webhooks", "ping"],
  synopsis: "<name>",
  flags: [],
  summary: "send a test event now and print how the receiver answered",
  run: ping,
};

const SECRET: VerbSpec = {
  path: ["webhooks", "secret"],
  synopsis: "<name>",
  flags: [],
  summary: "print the signing secret (needs the getSecure claim on the webhook)",
  run: secret,
};

export const WEBHOOK_VERBS: readonly VerbSpec[] = [DELIVERIES, REDELIVER, PING, SECRET];

async function deliveries(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos, flags } = parseVerbArgs(args, DELIVERIES, { min: 1, max: 1 });
  const limit = countFlag(flags.get("limit"), usageOf(DELIVERIES));
  const query = new URLSearchParams();
  if (limit !== undefined) query.set("limit", String(limit));
  ctx.print(await ctx.api().request("GET", keyPath("webhooks", pos[0] as string, "deliveries"), { query }));
  return 0;
}

async function redeliver(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, REDELIVER, { min: 2, max: 2 });
  ctx.print(await ctx.api().request("POST", keyPath("webhooks", pos[0] as string, "redeliver"), { body: { Id: pos[1] } }));
  return 0;
}

async function ping(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, PING, { min: 1, max: 1 });
  const entry = (await ctx.api().request("POST", keyPath("webhooks", pos[0] as string, "ping"))) as { State?: unknown };
  ctx.print(entry);
  return entry.State === "delivered" ? 0 : 1;
}

async function secret(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, SECRET, { min: 1, max: 1 });
  ctx.print(await ctx.api().request("GET", keyPath("webhooks", pos[0] as string, "secret")));
  return 0;
}
