// Machine extras: `machines params <key> [--aggregate]` and
// `machines set <key> param <name> to <json-value>`.

import { keyPath } from "../api-client.ts";
import { UsageError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { boolFlag, parseVerbArgs } from "../verb-args.ts";
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

export const MACHINE_VERBS: readonly VerbSpec[] = [PARAMS, SET];

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
