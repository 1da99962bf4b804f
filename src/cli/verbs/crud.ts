// The generic verbs of the object types: list, show, exists, create, update, patch, destroy (a type
// may have fewer: jobs, in types.ts).

import { keyPath } from "../api-client.ts";
import { readObjectArg, readPatchArg } from "../input.ts";
import { listArgs, listQuery } from "../list-query.ts";
import { CRUD_VERBS, type CliType } from "../types.ts";
import { parseVerbArgs } from "../verb-args.ts";
import type { VerbSpec } from "../verb-spec.ts";

/** The generic verbs of type `t` (all seven unless it names fewer), in the order the help texts list them. */
export function crudVerbs(t: CliType): VerbSpec[] {
  const n = t.name;
  /** Exactly `count` positional arguments. */
  const exactly = (args: string[], verb: VerbSpec, count: number) => parseVerbArgs(args, verb, { min: count, max: count }).pos;

  const list: VerbSpec = {
    ...listArgs(n),
    run: async (ctx, args) => {
      ctx.print(await ctx.api().request("GET", n, { query: listQuery(n, args) }), t);
      return 0;
    },
  };
  const show: VerbSpec = {
    path: [n, "show"],
    synopsis: "<key>",
    flags: [],
    summary: "keys are the key field or Index:value (Name:n1)",
    run: async (ctx, args) => {
      const [k] = exactly(args, show, 1);
      ctx.print(await ctx.api().request("GET", keyPath(n, k as string)), t);
      return 0;
    },
  };
  const exists: VerbSpec = {
    path: [n, "exists"],
    synopsis: "<key>",
    flags: [],
    summary: "exit status 0 if it exists",
    run: async (ctx, args) => {
      // Exit status is the answer; the API's NotFound error is printed like any other error.
      const [k] = exactly(args, exists, 1);
      await ctx.api().request("GET", keyPath(n, k as string));
      return 0;
    },
  };
  const create: VerbSpec = {
    path: [n, "create"],
    synopsis: "<json|yaml|@file|file|->",
    flags: [],
    run: async (ctx, args) => {
      const [doc] = exactly(args, create, 1);
      const obj = await readObjectArg(doc as string, ctx.input);
      ctx.print(await ctx.api().request("POST", n, { body: obj }), t);
      return 0;
    },
  };
  const update: VerbSpec = {
    path: [n, "update"],
    synopsis: "<key> <json|yaml|@file|file|->",
    flags: [],
    run: async (ctx, args) => {
      const [k, doc] = exactly(args, update, 2);
      const obj = await readObjectArg(doc as string, ctx.input);
      ctx.print(await ctx.api().request("PUT", keyPath(n, k as string), { body: obj }), t);
      return 0;
    },
  };
  const patch: VerbSpec = {
    path: [n, "patch"],
    synopsis: "<key> <json-patch|@file|file|->",
    flags: [],
    run: async (ctx, args) => {
      const [k, doc] = exactly(args, patch, 2);
      const ops = await readPatchArg(doc as string, ctx.input);
      const res = await ctx.api().request("PATCH", keyPath(n, k as string), {
        body: ops,
        contentType: "application/json-patch+json",
      });
      ctx.print(res, t);
      return 0;
    },
  };
  const destroy: VerbSpec = {
    path: [n, "destroy"],
    synopsis: "<key>",
    flags: [],
    run: async (ctx, args) => {
      const [k] = exactly(args, destroy, 1);
      await ctx.api().request("DELETE", keyPath(n, k as string));
      ctx.io.out(`Deleted ${t.singular} ${k}`);
      return 0;
    },
  };
  const all = [list, show, exists, create, update, patch, destroy];
  const has = new Set<string>(t.verbs ?? CRUD_VERBS);
  return all.filter((v) => has.has(v.path.at(-1) as string));
}
