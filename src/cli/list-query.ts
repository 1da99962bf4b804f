// `socle <type> list [Field=Op(value) ...] [--sort F] [--limit N] [--offset N] [--reverse]`
// -> the API's list query. Filters pass through as `Field=Op(value)` (or `Field=value`, which the
// API reads as Eq); the API validates fields and operators and answers 400 naming the bad one.

import { UsageError } from "./cli-error.ts";
import { boolFlag, countFlag, parseVerbArgs, type VerbFlag } from "./verb-args.ts";

export const LIST_FLAGS: readonly VerbFlag[] = [
  { name: "sort", kind: "value" },
  { name: "limit", kind: "value" },
  { name: "offset", kind: "value" },
  { name: "reverse", kind: "bool" },
];

const FILTER = /^([A-Za-z][A-Za-z0-9_.]*)=(.*)$/s;

export function listQuery(type: string, args: readonly string[]): URLSearchParams {
  const usage = `socle ${type} list [Field=Op(value) ...] [--sort Field] [--limit N] [--offset N] [--reverse]`;
  const { flags, pos } = parseVerbArgs(args, usage, { min: 0, max: Infinity }, LIST_FLAGS);
  const q = new URLSearchParams();
  for (const f of pos) {
    const m = FILTER.exec(f);
    if (!m) throw new UsageError(`invalid filter "${f}" (expected Field=Op(value), e.g. Name=Eq(n1))\nusage: ${usage}`);
    q.append(m[1] as string, m[2] as string);
  }
  const sort = flags.get("sort");
  if (sort) {
    if (!/^[A-Za-z][A-Za-z0-9_.]*$/.test(sort.raw)) throw new UsageError(`${sort.source}: invalid field "${sort.raw}"\nusage: ${usage}`);
    q.set("sort", sort.raw);
  }
  const limit = countFlag(flags.get("limit"), usage);
  if (limit !== undefined) q.set("limit", String(limit));
  const offset = countFlag(flags.get("offset"), usage);
  if (offset !== undefined) q.set("offset", String(offset));
  if (boolFlag(flags.get("reverse"))) q.set("reverse", "true");
  return q;
}
