// Usage text of the whole CLI and of one type.

import { clientFlagsHelp } from "../config/client-config.ts";
import { CLI_TYPES, type CliType } from "./types.ts";
import { crudUsage } from "./verbs/crud.ts";
import { FILE_AREAS, fileAreaUsage } from "./verbs/files.ts";
import { LOCAL_USAGE } from "./verbs/local.ts";
import { MACHINE_USAGE } from "./verbs/machines.ts";
import { PREFS_USAGE } from "./verbs/prefs.ts";
import { PROFILE_USAGE } from "./verbs/profiles.ts";
import { USER_USAGE } from "./verbs/users.ts";

export function extraUsage(type: string): string[] {
  if (type === "machines") return MACHINE_USAGE;
  if (type === "profiles") return PROFILE_USAGE;
  if (type === "users") return USER_USAGE;
  return [];
}

export function typeHelp(t: CliType): string {
  return ["Usage:", ...[...crudUsage(t), ...extraUsage(t.name)].map((l) => `  ${l}`)].join("\n");
}

export function mainHelp(): string {
  return [
    "Usage: socle [global flags] <command> [arguments]",
    "",
    "Server:",
    "  socle serve [flags]            run the provisioning server (socle serve --help lists its flags)",
    "",
    "Objects (types: " + CLI_TYPES.map((t) => t.name).join(" ") + "):",
    "  socle <type> list [Field=Op(value) ...] [--sort Field] [--limit N] [--offset N] [--reverse]",
    "  socle <type> show <key>        keys are the key field or Index:value (Name:n1)",
    "  socle <type> exists <key>      exit status 0 if it exists",
    "  socle <type> create <json|yaml|@file|file|->",
    "  socle <type> update <key> <json|yaml|@file|file|->",
    "  socle <type> patch <key> <json-patch|@file|file|->",
    "  socle <type> destroy <key>",
    "  filter operators: Eq Ne Lt Lte Gt Gte Re In Nin Between, e.g. Name=Re(^web) Address=In(a,b)",
    "",
    "More:",
    ...[...MACHINE_USAGE, ...PROFILE_USAGE, ...USER_USAGE, ...PREFS_USAGE].map((l) => `  ${l}`),
    "  socle info",
    ...LOCAL_USAGE.map((l) => `  ${l}`),
    "  socle help | socle <type> help",
    "",
    "Operator files (socle files help, socle isos help):",
    ...FILE_AREAS.flatMap(fileAreaUsage).map((l) => `  ${l}`),
    "",
    "Global flags (anywhere on the line; the flag wins over its environment variable):",
    clientFlagsHelp(),
    "",
    "Exit status: 0 success, 1 the request failed, 2 the command line is wrong.",
  ].join("\n");
}
