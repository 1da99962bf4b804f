// `profiles params <name>`: a profile's own parameters (not resolved: see machines params --aggregate).

import { keyPath } from "../api-client.ts";
import type { VerbContext } from "../context.ts";
import { parseVerbArgs } from "../verb-args.ts";

export const PROFILE_USAGE = ["socle profiles params <name>"];

export async function profileParams(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, PROFILE_USAGE[0] as string, { min: 1, max: 1 });
  ctx.print(await ctx.api().request("GET", keyPath("profiles", pos[0] as string, "params")));
  return 0;
}
