// Usage text of the whole CLI, of one command and of one verb, all printed from the command table.

import { CLIENT_FLAGS, clientFlagsHelp } from "../config/client-config.ts";
import { COMMANDS, COMPLETION, EXTRA_VERBS } from "./commands.ts";
import { CLI_TYPES, findType, type CliType } from "./types.ts";
import { commandName, isGroup, usageOf, type Command, type CommandGroup, type VerbSpec } from "./verb-spec.ts";
import { crudVerbs } from "./verbs/crud.ts";
import { FILE_AREAS } from "./verbs/files.ts";

/** Words that ask for help in place of a command or verb. */
export const HELP_WORDS: ReadonlySet<string> = new Set(["help", "--help", "-h"]);

/**
 * Whether a verb's arguments ask for its help: a lone help word (`socle profiles show help`; an
 * object really named "help" is `Name:help`), or --help/-h among its flags (before `--`).
 */
export function asksForHelp(verb: VerbSpec, args: readonly string[]): boolean {
  if (args.length === 1 && HELP_WORDS.has(args[0] as string)) return true;
  if (verb.rawArgs) return false;
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/** Usage lines longer than this put their summary on the next line instead of beside them. */
const SUMMARY_COLUMN = 40;

/** Usage lines, each indented, with summaries aligned beside them. */
function usageLines(verbs: readonly VerbSpec[]): string[] {
  const beside = (v: VerbSpec) => v.summary !== undefined && usageOf(v).length <= SUMMARY_COLUMN;
  const width = Math.max(0, ...verbs.filter(beside).map((v) => usageOf(v).length));
  return verbs.map((v) => {
    const usage = usageOf(v);
    if (v.summary === undefined) return `  ${usage}`;
    return beside(v) ? `  ${usage.padEnd(width)}  ${v.summary}` : `  ${usage}\n      ${v.summary}`;
  });
}

/** `socle machines list --help`. */
export function verbHelp(verb: VerbSpec): string {
  const globals = CLIENT_FLAGS.map((f) => (f.short ? `-${f.short}` : `--${f.name}`)).join(", ");
  return [
    `Usage: ${usageOf(verb)}`,
    ...(verb.summary ? [`  ${verb.summary}`] : []),
    ...(verb.notes ?? []).map((l) => `  ${l}`),
    ...(verb.local ? [] : ["", `Global flags (${globals}): see socle help.`]),
  ].join("\n");
}

/** `socle machines --help`. */
export function groupHelp(group: CommandGroup): string {
  const notes = group.notes ?? [];
  return ["Usage:", ...usageLines(group.verbs), ...(notes.length ? ["", ...notes] : [])].join("\n");
}

/** Stands for every type in the generic lines of `socle help`. */
const ANY_TYPE: CliType = { name: "<type>", singular: "object", key: "", columns: [] };

export function mainHelp(): string {
  const generic = crudVerbs(ANY_TYPE);
  const extras = CLI_TYPES.flatMap((t) => EXTRA_VERBS[t.name] ?? []);
  const verbsOf = (c: Command) => (isGroup(c) ? c.verbs : [c]);
  const areas = COMMANDS.filter((c) => (FILE_AREAS as readonly string[]).includes(commandName(c))).flatMap(verbsOf);
  // Everything else, so that a new command shows up here without anyone editing this function.
  const others = COMMANDS.filter((c) => !findType(commandName(c)) && !areas.includes(verbsOf(c)[0] as VerbSpec) && c !== COMPLETION);
  return [
    "Usage: socle [global flags] <command> [arguments]",
    "",
    "Server:",
    "  socle serve [flags]            run the provisioning server (socle serve --help lists its flags)",
    "",
    "Objects (types: " + CLI_TYPES.map((t) => t.name).join(" ") + "):",
    ...usageLines(generic),
    ...(generic[0]?.notes ?? []).map((l) => `  ${l}`),
    ...CLI_TYPES.filter((t) => t.verbs !== undefined).map((t) => `  ${t.name}: only ${t.verbs?.join(", ")} of these (more below)`),
    "",
    "More:",
    ...usageLines([...extras, ...others.flatMap(verbsOf)]),
    "",
    "Operator files (socle files --help, socle isos --help):",
    ...usageLines(areas),
    "",
    "Help and shell completion:",
    "  socle help | socle <command> --help | socle <command> <verb> --help",
    ...usageLines([COMPLETION]),
    "",
    "Global flags (anywhere on the line; the flag wins over its environment variable):",
    clientFlagsHelp(),
    "",
    "Exit status: 0 success, 1 the request failed, 2 the command line is wrong.",
  ].join("\n");
}
