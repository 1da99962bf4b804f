// The command table: every command and verb of the client, each once. main.ts dispatches through
// it, help.ts prints its usage lines, and the completion scripts are generated from it. `serve`
// is not in it: it runs before the client configuration is read, takes its flags from
// serve-config.ts, and is added to the completion tree below.

import { CLIENT_FLAGS, OUTPUT_FORMATS } from "../config/client-config.ts";
import type { FlagSpec } from "../config/flags.ts";
import { LOG_FORMATS, serveFlags } from "../config/serve-config.ts";
import { LOG_LEVELS } from "../log/logger.ts";
import { UsageError } from "./cli-error.ts";
import { completionScript, isShell, SHELLS, type CompletionNode } from "./completion.ts";
import { CLI_TYPES } from "./types.ts";
import { parseVerbArgs } from "./verb-args.ts";
import { commandName, isGroup, usageOf, type Command, type CommandGroup, type VerbFlag, type VerbSpec } from "./verb-spec.ts";
import { DISCOVERY_BUILD, LOADERS_IMPORT } from "./verbs/assets.ts";
import { crudVerbs } from "./verbs/crud.ts";
import { EVENT_VERBS } from "./verbs/events.ts";
import { BOOTENV_VERBS, FILE_AREAS, fileAreaCommand } from "./verbs/files.ts";
import { HA_VERBS } from "./verbs/ha.ts";
import { INSTALL } from "./verbs/install.ts";
import { JOB_VERBS } from "./verbs/jobs.ts";
import { PKI_CA, VERSION } from "./verbs/local.ts";
import { MACHINE_VERBS } from "./verbs/machines.ts";
import { PREFS_VERBS } from "./verbs/prefs.ts";
import { PROFILE_VERBS } from "./verbs/profiles.ts";
import { DOCTOR } from "./verbs/timeline.ts";
import { USER_VERBS } from "./verbs/users.ts";
import { WEBHOOK_VERBS } from "./verbs/webhooks.ts";

/** Verbs some types have besides the generic ones (crud.ts). */
export const EXTRA_VERBS: Readonly<Record<string, readonly VerbSpec[]>> = {
  bootenvs: BOOTENV_VERBS,
  jobs: JOB_VERBS,
  machines: MACHINE_VERBS,
  profiles: PROFILE_VERBS,
  users: USER_VERBS,
  webhooks: WEBHOOK_VERBS,
};

export const INFO: VerbSpec = {
  path: ["info"],
  synopsis: "",
  flags: [],
  summary: "what the server runs: version, addresses, ports, services",
  run: async (ctx, args) => {
    parseVerbArgs(args, INFO, { min: 0, max: 0 });
    ctx.print(await ctx.api().request("GET", "info"));
    return 0;
  },
};

export const COMPLETION: VerbSpec = {
  path: ["completion"],
  synopsis: SHELLS.join("|"),
  flags: [],
  summary: "print a shell completion script: source <(socle completion bash)",
  choices: SHELLS,
  local: true,
  run: async (ctx, args) => {
    const { pos } = parseVerbArgs(args, COMPLETION, { min: 1, max: 1 });
    const shell = pos[0] as string;
    if (!isShell(shell)) {
      throw new UsageError(`unknown shell "${shell}" (expected ${SHELLS.join("|")})\nusage: ${usageOf(COMPLETION)}`);
    }
    ctx.io.out(completionScript(shell, completionTree()));
    return 0;
  },
};

export const COMMANDS: readonly Command[] = [
  ...CLI_TYPES.map((t): CommandGroup => ({ name: t.name, verbs: [...crudVerbs(t), ...(EXTRA_VERBS[t.name] ?? [])] })),
  ...FILE_AREAS.map(fileAreaCommand),
  { name: "prefs", verbs: PREFS_VERBS },
  INFO,
  { name: "pki", verbs: [PKI_CA] },
  { name: "loaders", verbs: [LOADERS_IMPORT] },
  { name: "discovery", verbs: [DISCOVERY_BUILD] },
  { name: "ha", verbs: HA_VERBS },
  { name: "events", verbs: EVENT_VERBS },
  DOCTOR,
  VERSION,
  INSTALL,
  COMPLETION,
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => commandName(c) === name);
}

/** The flag that every command understands (help.ts decides what it means). */
const HELP_FLAG: VerbFlag = { name: "help", short: "h", kind: "bool" };

/** A flag table of config/ with the values its parser accepts, for the completion scripts. */
function withChoices(specs: readonly FlagSpec[], choices: Record<string, readonly string[]>): VerbFlag[] {
  return specs.map((s) => ({ name: s.name, kind: s.kind, short: s.short, choices: choices[s.name] }));
}

/** Every word the completion scripts offer: the table, `serve`, `help`, and the global flags. */
export function completionTree(): CompletionNode {
  const global = withChoices(CLIENT_FLAGS, { output: OUTPUT_FORMATS });
  const node = (flags: readonly VerbFlag[], children: [string, CompletionNode][] = [], choices: readonly string[] = []): CompletionNode => ({
    children: new Map(children),
    flags,
    choices,
  });
  // Local verbs accept the global flags too but have no use for them: do not offer them.
  const verbNode = (v: VerbSpec) => node([...v.flags, HELP_FLAG, ...(v.local ? [] : global)], [], v.choices ?? []);
  const commands = COMMANDS.map((c): [string, CompletionNode] =>
    isGroup(c)
      ? [c.name, node([HELP_FLAG, ...global], c.verbs.map((v) => [v.path.at(-1) as string, verbNode(v)]))]
      : [commandName(c), verbNode(c)],
  );
  const serve = node([...withChoices(serveFlags(), { "log-level": LOG_LEVELS, "log-format": LOG_FORMATS }), HELP_FLAG]);
  return node([HELP_FLAG, ...global], [...commands, ["serve", serve], ["help", node([])]]);
}
