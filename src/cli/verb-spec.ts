// What a verb is to everyone but itself: its words, its arguments, its own flags, and the function
// that runs it. The dispatcher, the help texts and the shell completion scripts all read these
// records (commands.ts), and the verb parses its arguments with the same record (verb-args.ts), so
// a flag cannot be accepted without being in the usage line and in the completion.

import type { Verb } from "./context.ts";

export interface VerbFlag {
  name: string;
  kind: "bool" | "value";
  /** One-letter alias without the dash: "o". */
  short?: string;
  /** Placeholder of the value in the usage line: "N" in `[--limit N]`. */
  placeholder?: string;
  /** The only values the flag accepts (offered by the completion scripts). */
  choices?: readonly string[];
}

export interface VerbSpec {
  /** The words that select it: ["machines", "list"], ["info"]. */
  path: readonly string[];
  /** The positional arguments as the usage line shows them: "<key> [dir]". */
  synopsis: string;
  flags: readonly VerbFlag[];
  /** What it does, beside the usage line in listings and under it in the verb's help. */
  summary?: string;
  /** More lines for the verb's own help (`socle machines list --help`). */
  notes?: readonly string[];
  /** The values the first positional argument can take (offered by the completion scripts). */
  choices?: readonly string[];
  /**
   * The arguments are not scanned for flags because a value may start with "-" (`to -5`): only a
   * lone help word asks for help.
   */
  rawArgs?: boolean;
  /** Needs no server (version, pki ca, completion): its help does not point at the global flags. */
  local?: boolean;
  run: Verb;
}

/** A command with subcommands: `machines list`, `pki ca`. */
export interface CommandGroup {
  name: string;
  verbs: readonly VerbSpec[];
  /** Lines after the usage lines in `socle <name> --help`. */
  notes?: readonly string[];
}

/** A top-level command: a group, or a verb of its own (`info`, `version`, `completion`). */
export type Command = CommandGroup | VerbSpec;

export const isGroup = (c: Command): c is CommandGroup => "verbs" in c;

export const commandName = (c: Command): string => (isGroup(c) ? c.name : (c.path[0] as string));

/** `socle machines list [Field=Op(value) ...] [--sort Field] ... [--reverse]`: flags after the positionals. */
export function usageOf(spec: Pick<VerbSpec, "path" | "synopsis" | "flags">): string {
  const flags = spec.flags.map((f) => `[--${f.name}${f.kind === "value" ? ` ${f.placeholder ?? "value"}` : ""}]`);
  return ["socle", ...spec.path, spec.synopsis, ...flags].filter((w) => w !== "").join(" ");
}
