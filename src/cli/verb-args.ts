// Arguments of one verb: its own flags (--sort, --ttl ...) and a fixed range of positionals.
// Mistakes are usage errors (exit 2) that show the verb's usage line.

import { ConfigError } from "../config/config-error.ts";
import { scanFlags, type FlagSpec, type RawSetting } from "../config/flags.ts";
import { UsageError } from "./cli-error.ts";
import { usageOf, type VerbSpec } from "./verb-spec.ts";

export interface VerbArgs {
  flags: Map<string, RawSetting>;
  pos: string[];
}

export function parseVerbArgs(
  args: readonly string[],
  verb: Pick<VerbSpec, "path" | "synopsis" | "flags">,
  positionals: { min: number; max: number },
): VerbArgs {
  const usage = usageOf(verb);
  const specs: FlagSpec[] = verb.flags.map((f) => ({ name: f.name, short: f.short, kind: f.kind, defaultText: "", help: "" }));
  let scanned;
  try {
    scanned = scanFlags(args, {}, specs, { passUnknown: false, helpHint: "" });
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`${e.message}\nusage: ${usage}`);
    throw e;
  }
  const pos = scanned.rest;
  if (pos.length < positionals.min) throw new UsageError(`missing argument\nusage: ${usage}`);
  if (pos.length > positionals.max) throw new UsageError(`unexpected argument "${pos[positionals.max]}"\nusage: ${usage}`);
  return { flags: scanned.settings, pos };
}

/** A non-negative integer flag value. */
export function countFlag(s: RawSetting | undefined, usage: string): number | undefined {
  if (s === undefined) return undefined;
  if (!/^\d{1,9}$/.test(s.raw)) throw new UsageError(`${s.source}: invalid number "${s.raw}" (expected an integer >= 0)\nusage: ${usage}`);
  return Number(s.raw);
}

/** A boolean verb flag: bare means true, `=false` is honoured. */
export function boolFlag(s: RawSetting | undefined): boolean {
  if (s === undefined) return false;
  const v = s.raw.toLowerCase();
  if (["true", "1", "yes"].includes(v)) return true;
  if (["false", "0", "no"].includes(v)) return false;
  throw new UsageError(`${s.source}: invalid boolean "${s.raw}" (expected true|false)`);
}
