// `prefs list` and `prefs set name=value ...` (values are strings, as in DRP).

import { UsageError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { parseVerbArgs } from "../verb-args.ts";
import { usageOf, type VerbSpec } from "../verb-spec.ts";

const LIST: VerbSpec = { path: ["prefs", "list"], synopsis: "", flags: [], run: prefsList };
const SET: VerbSpec = { path: ["prefs", "set"], synopsis: "name=value [name=value ...]", flags: [], run: prefsSet };

export const PREFS_VERBS: readonly VerbSpec[] = [LIST, SET];

async function prefsList(ctx: VerbContext, args: string[]): Promise<number> {
  parseVerbArgs(args, LIST, { min: 0, max: 0 });
  ctx.print(await ctx.api().request("GET", "prefs"));
  return 0;
}

async function prefsSet(ctx: VerbContext, args: string[]): Promise<number> {
  const usage = usageOf(SET);
  const { pos } = parseVerbArgs(args, SET, { min: 1, max: Infinity });
  const body: Record<string, string> = {};
  for (const a of pos) {
    const i = a.indexOf("=");
    if (i <= 0) throw new UsageError(`invalid preference "${a}" (expected name=value)\nusage: ${usage}`);
    body[a.slice(0, i)] = a.slice(i + 1);
  }
  ctx.print(await ctx.api().request("POST", "prefs", { body }));
  return 0;
}
