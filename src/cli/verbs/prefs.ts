// `prefs list` and `prefs set name=value ...` (values are strings, as in DRP).

import { UsageError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { parseVerbArgs } from "../verb-args.ts";

export const PREFS_USAGE = ["socle prefs list", "socle prefs set name=value [name=value ...]"];

export async function prefsList(ctx: VerbContext, args: string[]): Promise<number> {
  parseVerbArgs(args, PREFS_USAGE[0] as string, { min: 0, max: 0 });
  ctx.print(await ctx.api().request("GET", "prefs"));
  return 0;
}

export async function prefsSet(ctx: VerbContext, args: string[]): Promise<number> {
  const usage = PREFS_USAGE[1] as string;
  const { pos } = parseVerbArgs(args, usage, { min: 1, max: Infinity });
  const body: Record<string, string> = {};
  for (const a of pos) {
    const i = a.indexOf("=");
    if (i <= 0) throw new UsageError(`invalid preference "${a}" (expected name=value)\nusage: ${usage}`);
    body[a.slice(0, i)] = a.slice(i + 1);
  }
  ctx.print(await ctx.api().request("POST", "prefs", { body }));
  return 0;
}
