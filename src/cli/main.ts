// runCli: the whole command line, from argv to exit code. It never exits the process itself
// (run.ts does) and never lets an exception escape: every failure is one line on stderr.

import { readFileSync } from "node:fs";
import { parseClientConfig, type ClientConfig } from "../config/client-config.ts";
import { ConfigError } from "../config/config-error.ts";
import { parseServeConfig, serveHelp, type ServeConfig } from "../config/serve-config.ts";
import { ApiClient } from "./api-client.ts";
import { CliError, UsageError } from "./cli-error.ts";
import { makePrinter, type CliIO, type VerbContext } from "./context.ts";
import { mainHelp, typeHelp } from "./help.ts";
import { CLI_TYPES, findType } from "./types.ts";
import { CRUD_VERBS, runCrud, type CrudVerb } from "./verbs/crud.ts";
import { fileAreaHelp, runFileArea } from "./verbs/files.ts";
import { pkiCa, version } from "./verbs/local.ts";
import { machineParams, machineSet } from "./verbs/machines.ts";
import { prefsList, prefsSet } from "./verbs/prefs.ts";
import { profileParams } from "./verbs/profiles.ts";
import { userPassword, userToken } from "./verbs/users.ts";
import { parseVerbArgs } from "./verb-args.ts";

export interface CliDeps {
  /** Runs the server until it stops; resolves to the exit code. Provided by src/main.ts. */
  serve: (config: ServeConfig) => Promise<number>;
  /** Test hook: the fetch the API client uses. */
  fetch?: typeof fetch;
}

export type { CliIO } from "./context.ts";

const HELP_WORDS = new Set(["help", "--help", "-h"]);

export async function runCli(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: CliIO,
  deps: CliDeps,
): Promise<number> {
  try {
    if (argv[0] === "serve") return await runServe(argv.slice(1), env, io, deps);
    const config = parseClientConfig(argv, env);
    return await dispatch(makeContext(config, env, io, deps), config.args);
  } catch (e) {
    return report(e, io);
  }
}

async function runServe(argv: readonly string[], env: Record<string, string | undefined>, io: CliIO, deps: CliDeps) {
  if (argv.some((a) => HELP_WORDS.has(a))) {
    io.out(serveHelp());
    return 0;
  }
  const config = parseServeConfig(argv, env);
  try {
    return await deps.serve(config);
  } catch (e) {
    // The server should report its own failures and return a code; anything that still escapes
    // (a port in use at start, an unreadable data dir) is one line, not a stack trace.
    if (e instanceof CliError || e instanceof ConfigError) throw e;
    throw new CliError(`serve: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function report(e: unknown, io: CliIO): number {
  if (e instanceof CliError) {
    io.err(`Error: ${e.message}`);
    return e.exitCode;
  }
  if (e instanceof ConfigError) {
    io.err(`Error: ${e.message}`);
    return 2;
  }
  // A bug, not a user mistake: still one line, but say so.
  io.err(`Error: internal: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  return 1;
}

function makeContext(config: ClientConfig, env: Record<string, string | undefined>, io: CliIO, deps: CliDeps): VerbContext {
  let client: ApiClient | undefined;
  const readStdin = io.readStdin ?? (async () => {
    throw new CliError("standard input is not available here");
  });
  return {
    config,
    env,
    io,
    input: { readStdin },
    print: makePrinter(config, io),
    api() {
      if (!client) {
        let ca: string | undefined;
        if (config.caFile !== undefined && !config.insecure) {
          try {
            ca = readFileSync(config.caFile, "utf8");
          } catch (e) {
            throw new CliError(`cannot read CA file "${config.caFile}" (${config.caSource}): ${(e as Error).message}`);
          }
        }
        client = new ApiClient({
          endpoint: config.endpoint,
          auth: config.auth,
          ca,
          caLabel: config.caFile ?? "",
          insecure: config.insecure,
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
        });
      }
      return client;
    },
  };
}

async function dispatch(ctx: VerbContext, args: string[]): Promise<number> {
  const [cmd, verb, ...rest] = args;
  if (cmd === undefined) {
    ctx.io.err(mainHelp());
    return 2;
  }
  if (HELP_WORDS.has(cmd)) {
    ctx.io.out(mainHelp());
    return 0;
  }
  const all = verb === undefined ? [] : [verb, ...rest];
  switch (cmd) {
    case "version":
      return version(ctx, all);
    case "info":
      parseVerbArgs(all, "socle info", { min: 0, max: 0 });
      ctx.print(await ctx.api().request("GET", "info"));
      return 0;
    case "pki":
      if (verb === "ca") return pkiCa(ctx, rest);
      throw new UsageError(`unknown pki command ${JSON.stringify(verb ?? "")}\nusage: socle pki ca [--data-dir D]`);
    case "prefs":
      if (verb === "list") return prefsList(ctx, rest);
      if (verb === "set") return prefsSet(ctx, rest);
      throw new UsageError(`unknown prefs command ${JSON.stringify(verb ?? "")}\nusage: socle prefs list | socle prefs set name=value ...`);
    case "files":
    case "isos":
      if (verb === undefined || HELP_WORDS.has(verb)) return showHelp(ctx, verb, fileAreaHelp(cmd));
      return runFileArea(ctx, cmd, verb, rest);
  }
  const type = findType(cmd);
  if (!type) {
    const guess = findType(`${cmd}s`) ?? CLI_TYPES.find((t) => t.singular === cmd.replace(/s$/, ""));
    const hint = guess ? ` (did you mean "${guess.name}"?)` : " (see socle help)";
    throw new UsageError(`unknown command "${cmd}"${hint}`);
  }
  if (verb === undefined || HELP_WORDS.has(verb)) return showHelp(ctx, verb, typeHelp(type));
  if ((CRUD_VERBS as readonly string[]).includes(verb)) return runCrud(ctx, type, verb as CrudVerb, rest);
  if (type.name === "machines" && verb === "params") return machineParams(ctx, rest);
  if (type.name === "machines" && verb === "set") return machineSet(ctx, rest);
  if (type.name === "profiles" && verb === "params") return profileParams(ctx, rest);
  if (type.name === "users" && verb === "token") return userToken(ctx, rest);
  if (type.name === "users" && verb === "password") return userPassword(ctx, rest);
  throw new UsageError(`unknown ${type.name} command "${verb}"\n${typeHelp(type)}`);
}

/** A command's help: asked for (stdout, exit 0), or shown because the verb is missing (stderr, exit 2). */
function showHelp(ctx: VerbContext, verb: string | undefined, text: string): number {
  if (verb === undefined) {
    ctx.io.err(text);
    return 2;
  }
  ctx.io.out(text);
  return 0;
}
