// Machine extras: `machines params <key> [--aggregate]`,
// `machines set <key> param <name> to <json-value>`, `machines runnable <key> true|false`, and
// `machines wait <key> <field> <value> [--timeout 10m]`, `machines token <key> [--ttl S]`,
// `machines revoke <key>` and `machines certs <key>`.

import { formatDuration, parseDuration } from "../../model/duration.ts";
import { jsonEqual } from "../../model/json-schema.ts";
import { keyPath } from "../api-client.ts";
import { CliError, UsageError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { awaitChange, fetchObject } from "../long-poll.ts";
import { findType } from "../types.ts";
import { boolFlag, parseVerbArgs } from "../verb-args.ts";
import { MACHINE_TIMELINE } from "./timeline.ts";
import { printToken } from "./users.ts";
import { usageOf, type VerbSpec } from "../verb-spec.ts";

const PARAMS: VerbSpec = {
  path: ["machines", "params"],
  synopsis: "<key>",
  flags: [{ name: "aggregate", kind: "bool" }],
  run: machineParams,
};

const SET: VerbSpec = {
  path: ["machines", "set"],
  synopsis: "<key> param <name> to <json-value>",
  flags: [],
  rawArgs: true,
  run: machineSet,
};

const RUNNABLE: VerbSpec = {
  path: ["machines", "runnable"],
  synopsis: "<key> true|false",
  flags: [],
  summary: "let the scheduler hand out jobs again (true), or hold them (false)",
  run: machineRunnable,
};

const DEFAULT_WAIT_TIMEOUT = "10m";

const WAIT: VerbSpec = {
  path: ["machines", "wait"],
  synopsis: "<key> <field> <value>",
  flags: [{ name: "timeout", kind: "value", placeholder: "duration" }],
  summary: "exit 0 once the field has the value; exit 1 at the timeout",
  notes: [
    "field: a top-level field (WorkflowComplete, Stage, BootEnv, Runnable, ...); value: JSON or text,",
    `so true matches true and local matches "local". --timeout: 30s, 10m, 1h (default ${DEFAULT_WAIT_TIMEOUT}).`,
    "The server holds each request until the machine changes (no polling).",
  ],
  run: machineWait,
};

const TOKEN: VerbSpec = {
  path: ["machines", "token"],
  synopsis: "<key>",
  flags: [{ name: "ttl", kind: "value", placeholder: "seconds" }],
  summary: "a token for the machine (e.g. a new RS_TOKEN for its agent's /etc/socle/agent.env)",
  run: machineToken,
};

const REVOKE: VerbSpec = {
  path: ["machines", "revoke"],
  synopsis: "<key>",
  flags: [],
  summary: "end every token issued for the machine (its agent's too) and revoke its certificates",
  run: machineRevoke,
};

const CERTS: VerbSpec = {
  path: ["machines", "certs"],
  synopsis: "<key>",
  flags: [],
  summary: "the machine's client certificates: serial, how issued, expiry, revocation",
  run: machineCerts,
};

export const MACHINE_VERBS: readonly VerbSpec[] = [PARAMS, SET, RUNNABLE, WAIT, TOKEN, REVOKE, CERTS, MACHINE_TIMELINE];

async function machineCerts(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, CERTS, { min: 1, max: 1 });
  ctx.print(await ctx.api().request("GET", keyPath("machines", pos[0] as string, "certs")));
  return 0;
}

function machineToken(ctx: VerbContext, args: string[]): Promise<number> {
  return printToken(ctx, args, TOKEN, "machines");
}

async function machineRevoke(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, REVOKE, { min: 1, max: 1 });
  await ctx.api().request("POST", keyPath("machines", pos[0] as string, "revoke"));
  ctx.io.out(`Every token and certificate of machine ${pos[0]} is revoked`);
  return 0;
}

async function machineParams(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos, flags } = parseVerbArgs(args, PARAMS, { min: 1, max: 1 });
  const query = new URLSearchParams();
  if (boolFlag(flags.get("aggregate"))) query.set("aggregate", "true");
  ctx.print(await ctx.api().request("GET", keyPath("machines", pos[0] as string, "params"), { query }));
  return 0;
}

/**
 * Sets one parameter through the parameter endpoint (`POST /machines/<key>/params/<name>`, as in
 * DRP), where the server checks the value against the Param's schema. The value is JSON (`8`,
 * `true`, `"x"`, `{...}`); text that is not JSON is taken as a string, so `to web1` works.
 * `to null` removes the parameter (`DELETE .../params/<name>`).
 */
async function machineSet(ctx: VerbContext, args: string[]): Promise<number> {
  const usage = usageOf(SET);
  // No flag scanning here: the value may legitimately start with "-" (`to -5`).
  if (args.length !== 5 || args[1] !== "param" || args[3] !== "to") {
    throw new UsageError(`expected <key> param <name> to <json-value>, got ${JSON.stringify(args.join(" "))}\nusage: ${usage}`);
  }
  const [key, , name, , raw] = args as [string, string, string, string, string];
  if (name === "") throw new UsageError(`empty parameter name\nusage: ${usage}`);
  const value = parseValue(raw);
  const path = keyPath("machines", key, "params", name);
  if (value === null) {
    await ctx.api().request("DELETE", path);
    ctx.print(null);
    return 0;
  }
  ctx.print(await ctx.api().request("POST", path, { body: value }));
  return 0;
}

export function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** JSON Patch of one field: the scheduler's Runnable gate, as an operator opens or closes it. */
async function machineRunnable(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, RUNNABLE, { min: 2, max: 2 });
  const [key, raw] = pos as [string, string];
  if (raw !== "true" && raw !== "false") throw new UsageError(`expected true or false, got "${raw}"\nusage: ${usageOf(RUNNABLE)}`);
  const ops = [{ op: "replace", path: "/Runnable", value: raw === "true" }];
  const res = await ctx.api().request("PATCH", keyPath("machines", key), { body: ops, contentType: "application/json-patch+json" });
  ctx.print(res, findType("machines"));
  return 0;
}

/** Whether a field's value is what the command line asked for: as JSON, or as the text itself. */
export function fieldMatches(actual: unknown, raw: string): boolean {
  return jsonEqual(actual, parseValue(raw)) || actual === raw;
}

/**
 * Long-polls the machine (If-None-Match + Prefer: wait) until `field` equals `value`. Prints
 * nothing: the exit status is the answer (0 matched, 1 timed out or failed).
 */
async function machineWait(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos, flags } = parseVerbArgs(args, WAIT, { min: 3, max: 3 });
  const [ref, field, value] = pos as [string, string, string];
  const rawTimeout = flags.get("timeout");
  const timeoutMs = parseDuration(rawTimeout?.raw ?? DEFAULT_WAIT_TIMEOUT);
  if (timeoutMs === undefined) {
    throw new UsageError(`${rawTimeout?.source}: invalid duration "${rawTimeout?.raw}" (expected 30s, 10m, 1h or seconds)\nusage: ${usageOf(WAIT)}`);
  }
  const deadline = Date.now() + timeoutMs;
  const api = ctx.api();
  let held = await fetchObject(api, keyPath("machines", ref));
  if (!Object.hasOwn(held.obj, field)) {
    const known = Object.keys(held.obj).sort().join(", ");
    throw new CliError(`machine ${ref} has no field "${field}" (fields: ${known})`);
  }
  // Watched by key from here on: a rename must not switch machines under us.
  const path = keyPath("machines", typeof held.obj.Uuid === "string" ? held.obj.Uuid : ref);
  for (;;) {
    if (fieldMatches(held.obj[field], value)) return 0;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new CliError(`timed out after ${formatDuration(timeoutMs)}: machine ${ref} has ${field} ${JSON.stringify(held.obj[field])}, waiting for ${value}`);
    }
    held = (await awaitChange(api, path, held, left)).now;
  }
}
