// `socle <type> list [Field=Op(value) ...] [--sort F] [--limit N] [--offset N] [--reverse]`
// -> the API's list query. Filters pass through as `Field=Op(value)` (or `Field=value`, which the
// API reads as Eq); the API validates fields and operators and answers 400 naming the bad one.

import { UsageError } from "./cli-error.ts";
import { boolFlag, countFlag, parseVerbArgs } from "./verb-args.ts";
import { usageOf, type VerbFlag, type VerbSpec } from "./verb-spec.ts";

const LIST_FLAGS: readonly VerbFlag[] = [
  { name: "sort", kind: "value", placeholder: "Field" },
  { name: "limit", kind: "value", placeholder: "N" },
  { name: "offset", kind: "value", placeholder: "N" },
  { name: "reverse", kind: "bool" },
];

/** The arguments of `socle <type> list`, for its verb record (crud.ts) and its errors. */
export function listArgs(type: string): Pick<VerbSpec, "path" | "synopsis" | "flags" | "notes"> {
  return {
    path: [type, "list"],
    synopsis: "[Field=Op(value) ...]",
    flags: LIST_FLAGS,
    notes: ["filter operators: Eq Ne Lt Lte Gt Gte Re In Nin Between, e.g. Name=Re(^web) Address=In(a,b)"],
  };
}

const FILTER = /^([A-Za-z][A-Za-z0-9_.]*)=(.*)$/s;

export function listQuery(type: string, args: readonly string[]): URLSearchParams {
  const verb = listArgs(type);
  const usage = usageOf(verb);
  const { flags, pos } = parseVerbArgs(args, verb, { min: 0, max: Infinity });
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
