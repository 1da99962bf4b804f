// `users token <name> [--ttl S]` and `users password <name> <password>`.

import { keyPath } from "../api-client.ts";
import type { VerbContext } from "../context.ts";
import { countFlag, parseVerbArgs } from "../verb-args.ts";
import { UsageError } from "../cli-error.ts";

export const USER_USAGE = ["socle users token <name> [--ttl seconds]", "socle users password <name> <password|->"];

export async function userToken(ctx: VerbContext, args: string[]): Promise<number> {
  const usage = USER_USAGE[0] as string;
  const { pos, flags } = parseVerbArgs(args, usage, { min: 1, max: 1 }, [{ name: "ttl", kind: "value" }]);
  const query = new URLSearchParams();
  const ttl = countFlag(flags.get("ttl"), usage);
  if (ttl === 0) throw new UsageError(`--ttl: invalid number "0" (expected seconds > 0)\nusage: ${usage}`);
  if (ttl !== undefined) query.set("ttl", String(ttl));
  ctx.print(await ctx.api().request("GET", keyPath("users", pos[0] as string, "token"), { query }));
  return 0;
}

/** `-` reads the password from standard input (first line), keeping it out of the process list. */
export async function userPassword(ctx: VerbContext, args: string[]): Promise<number> {
  const usage = USER_USAGE[1] as string;
  const { pos } = parseVerbArgs(args, usage, { min: 2, max: 2 });
  let password = pos[1] as string;
  if (password === "-") password = ((await ctx.input.readStdin()).split(/\r?\n/)[0] ?? "");
  if (password === "") throw new UsageError(`empty password\nusage: ${usage}`);
  await ctx.api().request("POST", keyPath("users", pos[0] as string, "password"), { body: { Password: password } });
  ctx.io.out(`Password of user ${pos[0]} changed`);
  return 0;
}
