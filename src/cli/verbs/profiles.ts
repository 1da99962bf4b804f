// `profiles params <name>`: a profile's own parameters (not resolved: see machines params --aggregate).

import { keyPath } from "../api-client.ts";
import type { VerbContext } from "../context.ts";
import { parseVerbArgs } from "../verb-args.ts";
import type { VerbSpec } from "../verb-spec.ts";

const PARAMS: VerbSpec = { path: ["profiles", "params"], synopsis: "<name>", flags: [], run: profileParams };

export const PROFILE_VERBS: readonly VerbSpec[] = [PARAMS];

async function profileParams(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, PARAMS, { min: 1, max: 1 });
  ctx.print(await ctx.api().request("GET", keyPath("profiles", pos[0] as string, "params")));
  return 0;
}
