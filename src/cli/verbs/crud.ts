// The verbs every object type has: list, show, exists, create, update, patch, destroy.

import { keyPath } from "../api-client.ts";
import type { VerbContext } from "../context.ts";
import { readObjectArg, readPatchArg } from "../input.ts";
import { listQuery } from "../list-query.ts";
import type { CliType } from "../types.ts";
import { parseVerbArgs } from "../verb-args.ts";

export const CRUD_VERBS = ["list", "show", "exists", "create", "update", "patch", "destroy"] as const;
export type CrudVerb = (typeof CRUD_VERBS)[number];

export function crudUsage(t: CliType): string[] {
  const n = t.name;
  return [
    `socle ${n} list [Field=Op(value) ...] [--sort Field] [--limit N] [--offset N] [--reverse]`,
    `socle ${n} show <key>`,
    `socle ${n} exists <key>`,
    `socle ${n} create <json|yaml|@file|file|->`,
    `socle ${n} update <key> <json|yaml|@file|file|->`,
    `socle ${n} patch <key> <json-patch|@file|file|->`,
    `socle ${n} destroy <key>`,
  ];
}

export async function runCrud(ctx: VerbContext, t: CliType, verb: CrudVerb, args: string[]): Promise<number> {
  const usage = crudUsage(t)[CRUD_VERBS.indexOf(verb)] as string;
  switch (verb) {
    case "list": {
      const q = listQuery(t.name, args);
      ctx.print(await ctx.api().request("GET", t.name, { query: q }), t);
      return 0;
    }
    case "show": {
      const { pos } = parseVerbArgs(args, usage, { min: 1, max: 1 });
      ctx.print(await ctx.api().request("GET", keyPath(t.name, pos[0] as string)), t);
      return 0;
    }
    case "exists": {
      // Exit status is the answer; the API's NotFound error is printed like any other error.
      const { pos } = parseVerbArgs(args, usage, { min: 1, max: 1 });
      await ctx.api().request("GET", keyPath(t.name, pos[0] as string));
      return 0;
    }
    case "create": {
      const { pos } = parseVerbArgs(args, usage, { min: 1, max: 1 });
      const obj = await readObjectArg(pos[0] as string, ctx.input);
      ctx.print(await ctx.api().request("POST", t.name, { body: obj }), t);
      return 0;
    }
    case "update": {
      const { pos } = parseVerbArgs(args, usage, { min: 2, max: 2 });
      const obj = await readObjectArg(pos[1] as string, ctx.input);
      ctx.print(await ctx.api().request("PUT", keyPath(t.name, pos[0] as string), { body: obj }), t);
      return 0;
    }
    case "patch": {
      const { pos } = parseVerbArgs(args, usage, { min: 2, max: 2 });
      const ops = await readPatchArg(pos[1] as string, ctx.input);
      const res = await ctx.api().request("PATCH", keyPath(t.name, pos[0] as string), {
        body: ops,
        contentType: "application/json-patch+json",
      });
      ctx.print(res, t);
      return 0;
    }
    case "destroy": {
      const { pos } = parseVerbArgs(args, usage, { min: 1, max: 1 });
      await ctx.api().request("DELETE", keyPath(t.name, pos[0] as string));
      ctx.io.out(`Deleted ${t.singular} ${pos[0]}`);
      return 0;
    }
  }
}
