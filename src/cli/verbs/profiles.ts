// `profiles params <name>`: a profile's own parameters.

import { keyPath } from "../api-client.ts";
import type { VerbContext } from "../context.ts";
import { parseVerbArgs } from "../verb-args.ts";

export const PROFILE_USAGE = ["socle profiles params <name>"];

export async function profileParams(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, PROFILE_USAGE[0] as string, { min: 1, max: 1 });
  const profile = await ctx.api().request("GET", keyPath("profiles", pos[0] as string));
  ctx.print((profile as { Params?: unknown } | undefined)?.Params ?? {});
  return 0;
}
