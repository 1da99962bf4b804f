// What every verb gets: the API client (created on first use, so local verbs need no endpoint),
// the parsed client config, and the output writers.

import type { ClientConfig } from "../config/client-config.ts";
import type { ApiClient } from "./api-client.ts";
import type { InputSources } from "./input.ts";
import { formatOutput } from "./output.ts";
import type { CliType } from "./types.ts";

export interface CliIO {
  /** One message for standard output; the writer adds the newline. */
  out(s: string): void;
  /** One message for standard error; the writer adds the newline. */
  err(s: string): void;
  /** All of standard input (for `-` arguments). */
  readStdin?: () => Promise<string>;
  /** Raw bytes to standard output, in order with out() (downloads to `-`); resolves once written. */
  writeBytes?: (chunk: Uint8Array) => Promise<void>;
}

export interface VerbContext {
  config: ClientConfig;
  env: Record<string, string | undefined>;
  io: CliIO;
  api(): ApiClient;
  input: InputSources;
  print(value: unknown, type?: CliType): void;
}

export function makePrinter(config: ClientConfig, io: CliIO) {
  return (value: unknown, type?: CliType) => io.out(formatOutput(value, config.output, type));
}

/** A verb: returns the exit code; throws CliError/UsageError/ConfigError for failures. */
export type Verb = (ctx: VerbContext, args: string[]) => Promise<number>;
