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

/** What `ha join` hands the composition root, which enrols over src/ha/enrol.ts joinPair. */
export interface HaJoinOptions {
  host: string;
  port: number;
  caPin: string;
  secret: string;
  nodeName: string;
  lanAddress: string;
  dataDir: string;
}

/** Enrols this node with a running first node and writes <dataDir>/ha; throws saying what failed. */
export type HaJoin = (opts: HaJoinOptions) => Promise<{ peerName: string; vip: string; slot: number }>;

export interface VerbContext {
  config: ClientConfig;
  env: Record<string, string | undefined>;
  io: CliIO;
  api(): ApiClient;
  input: InputSources;
  print(value: unknown, type?: CliType): void;
  /** `ha join` (CliDeps.haJoin); absent where the composition root does not provide it. */
  haJoin?: HaJoin;
}

export function makePrinter(config: ClientConfig, io: CliIO) {
  return (value: unknown, type?: CliType) => io.out(formatOutput(value, config.output, type));
}

/** A verb: returns the exit code; throws CliError/UsageError/ConfigError for failures. */
export type Verb = (ctx: VerbContext, args: string[]) => Promise<number>;
