// `users token <name> [--ttl S]` and `users password <name> <password>`.

import { keyPath } from "../api-client.ts";
import type { VerbContext } from "../context.ts";
import { countFlag, parseVerbArgs } from "../verb-args.ts";
import { usageOf, type VerbSpec } from "../verb-spec.ts";
import { UsageError } from "../cli-error.ts";

const TOKEN: VerbSpec = {
  path: ["users", "token"],
  synopsis: "<name>",
  flags: [{ name: "ttl", kind: "value", placeholder: "seconds" }],
  run: userToken,
};

const PASSWORD: VerbSpec = { path: ["users", "password"], synopsis: "<name> <password|->", flags: [], run: userPassword };

export const USER_VERBS: readonly VerbSpec[] = [TOKEN, PASSWORD];

function userToken(ctx: VerbContext, args: string[]): Promise<number> {
  return printToken(ctx, args, TOKEN, "users");
}

/** `<type> token <key> [--ttl S]` (users, machines): GET <type>/<key>/token, printed. */
export async function printToken(ctx: VerbContext, args: string[], verb: VerbSpec, type: string): Promise<number> {
  const usage = usageOf(verb);
  const { pos, flags } = parseVerbArgs(args, verb, { min: 1, max: 1 });
  const query = new URLSearchParams();
  const ttl = countFlag(flags.get("ttl"), usage);
  if (ttl === 0) throw new UsageError(`--ttl: invalid number "0" (expected seconds > 0)\nusage: ${usage}`);
  if (ttl !== undefined) query.set("ttl", String(ttl));
  ctx.print(await ctx.api().request("GET", keyPath(type, pos[0] as string, "token"), { query }));
  return 0;
}

/** `-` reads the password from standard input (first line), keeping it out of the process list. */
async function userPassword(ctx: VerbContext, args: string[]): Promise<number> {
  const usage = usageOf(PASSWORD);
  const { pos } = parseVerbArgs(args, PASSWORD, { min: 2, max: 2 });
  let password = pos[1] as string;
  if (password === "-") password = ((await ctx.input.readStdin()).split(/\r?\n/)[0] ?? "");
  if (password === "") throw new UsageError(`empty password\nusage: ${usage}`);
  await ctx.api().request("POST", keyPath("users", pos[0] as string, "password"), { body: { Password: password } });
  ctx.io.out(`Password of user ${pos[0]} changed`);
  return 0;
}
