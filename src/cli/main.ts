// runCli: the whole command line, from argv to exit code. It never exits the process itself
// (run.ts does) and never lets an exception escape: every failure is one line on stderr.

import { readFileSync } from "node:fs";
import { parseClientConfig, type ClientConfig } from "../config/client-config.ts";
import { ConfigError } from "../config/config-error.ts";
import { parseServeConfig, serveHelp, type ServeConfig } from "../config/serve-config.ts";
import { ApiClient } from "./api-client.ts";
import { CliError, UsageError } from "./cli-error.ts";
import { findCommand } from "./commands.ts";
import { makePrinter, type CliIO, type HaJoin, type VerbContext } from "./context.ts";
import { asksForHelp, groupHelp, HELP_WORDS, mainHelp, verbHelp } from "./help.ts";
import { CLI_TYPES, findType } from "./types.ts";
import { isGroup, type VerbSpec } from "./verb-spec.ts";

export interface CliDeps {
  /** Runs the server until it stops; resolves to the exit code. Provided by src/main.ts. */
  serve: (config: ServeConfig) => Promise<number>;
  /** Test hook: the fetch the API client uses. */
  fetch?: typeof fetch;
  /** `socle ha join`: enrol this node with a running first node (src/ha/enrol.ts joinPair). Provided by src/main.ts. */
  haJoin?: HaJoin;
}

export type { CliIO } from "./context.ts";

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
    ...(deps.haJoin ? { haJoin: deps.haJoin } : {}),
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
  const [name, ...rest] = args;
  if (name === undefined) {
    ctx.io.err(mainHelp());
    return 2;
  }
  if (HELP_WORDS.has(name)) {
    ctx.io.out(mainHelp());
    return 0;
  }
  const command = findCommand(name);
  if (!command) {
    const guess = findType(`${name}s`) ?? CLI_TYPES.find((t) => t.singular === name.replace(/s$/, ""));
    const hint = guess ? ` (did you mean "${guess.name}"?)` : " (see socle help)";
    throw new UsageError(`unknown command "${name}"${hint}`);
  }
  if (!isGroup(command)) return runVerb(ctx, command, rest);
  const [verbName, ...verbArgs] = rest;
  if (verbName === undefined || HELP_WORDS.has(verbName)) return showHelp(ctx, verbName, groupHelp(command));
  const verb = command.verbs.find((v) => v.path.at(-1) === verbName);
  if (!verb) throw new UsageError(`unknown ${command.name} command "${verbName}"\n${groupHelp(command)}`);
  return runVerb(ctx, verb, verbArgs);
}

/** Runs a verb, or prints its usage when its arguments ask for help (no request is made). */
async function runVerb(ctx: VerbContext, verb: VerbSpec, args: string[]): Promise<number> {
  if (asksForHelp(verb, args)) {
    ctx.io.out(verbHelp(verb));
    return 0;
  }
  return verb.run(ctx, args);
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
