// Configuration of the client verbs (`socle machines list` ...): endpoint, credentials, TLS trust
// and output format. Global flags are recognised anywhere before `--`; everything else (the verb,
// its arguments and its own flags) is returned in `args` in order.
//
// Trust is never weakened implicitly: without --ca-file the client looks for the CA of a local
// data directory (which pins trust to *our* CA, it is stricter than the system store) and
// otherwise uses the system roots. Only an explicit -k/--insecure skips verification.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "./config-error.ts";
import { flagHelp, scanFlags, type FlagSpec } from "./flags.ts";
import { defaultDataDir, isCompiledBinary } from "./runtime.ts";
import { parseBool, parseChoice } from "./values.ts";

export type OutputFormat = "json" | "yaml" | "table";
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["json", "yaml", "table"];

export type ClientAuth =
  | { kind: "none" }
  | { kind: "basic"; username: string; password: string }
  | { kind: "token"; token: string };

export interface ClientConfig {
  /** Base URL without trailing slash, e.g. https://127.0.0.1:8092 */
  endpoint: string;
  auth: ClientAuth;
  /** PEM file of the CA to trust; undefined = system roots. */
  caFile: string | undefined;
  /** Where caFile came from: "--ca-file", "SOCLE_CA_FILE", "data-dir" (found locally) or "". */
  caSource: string;
  insecure: boolean;
  output: OutputFormat;
  /** The verb and its arguments. */
  args: string[];
}

export const DEFAULT_ENDPOINT = "https://127.0.0.1:8092";

/** The global flags of the client verbs (also read by the CLI's help and shell completion). */
export const CLIENT_FLAGS: readonly FlagSpec[] = [
  { name: "endpoint", short: "E", env: "SOCLE_ENDPOINT", kind: "value", defaultText: DEFAULT_ENDPOINT, help: "API endpoint" },
  { name: "username", short: "U", env: "SOCLE_USERNAME", kind: "value", defaultText: "", help: "user for basic auth (with -P)" },
  { name: "password", short: "P", env: "SOCLE_PASSWORD", kind: "value", defaultText: "", help: "password for basic auth (with -U)" },
  { name: "token", short: "T", env: "SOCLE_TOKEN", kind: "value", defaultText: "", help: "bearer token (instead of -U/-P)" },
  {
    name: "ca-file",
    env: "SOCLE_CA_FILE",
    kind: "value",
    defaultText: "<data-dir>/pki/ca.pem if present, else the system roots",
    help: "PEM CA certificate to trust",
  },
  { name: "insecure", short: "k", kind: "bool", defaultText: "false", help: "skip TLS certificate verification" },
  { name: "output", short: "o", kind: "value", defaultText: "json", help: "output format json|yaml|table" },
];

export interface ClientConfigOptions {
  /** File existence check (tests inject one). */
  exists?: (path: string) => boolean;
  compiled?: boolean;
}

export function parseClientConfig(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  opts: ClientConfigOptions = {},
): ClientConfig {
  const exists = opts.exists ?? existsSync;
  const { settings, rest } = scanFlags(argv, env, CLIENT_FLAGS, { passUnknown: true, helpHint: "" });
  const value = (name: string) => {
    const s = settings.get(name);
    return s === undefined || s.raw === "" ? undefined : s;
  };

  const ep = value("endpoint");
  const endpoint = ep ? parseEndpoint(ep.source, ep.raw) : DEFAULT_ENDPOINT;

  const user = value("username");
  const pass = value("password");
  const token = value("token");
  if (token && (user || pass)) {
    throw new ConfigError(token.source, `a token cannot be combined with ${(user ?? pass)?.source} (use one way to log in)`);
  }
  if (user && !pass) throw new ConfigError(user.source, `user "${user.raw}" given without a password (-P or SOCLE_PASSWORD)`);
  if (pass && !user) throw new ConfigError(pass.source, "password given without a user (-U or SOCLE_USERNAME)");
  const auth: ClientAuth = token
    ? { kind: "token", token: token.raw }
    : user && pass
      ? { kind: "basic", username: user.raw, password: pass.raw }
      : { kind: "none" };

  const insecureSetting = settings.get("insecure");
  const insecure = insecureSetting ? parseBool(insecureSetting.source, insecureSetting.raw) : false;

  let caFile: string | undefined;
  let caSource = "";
  const ca = value("ca-file");
  if (ca) {
    if (!exists(ca.raw)) throw new ConfigError(ca.source, `cannot read "${ca.raw}": no such file`);
    caFile = ca.raw;
    caSource = ca.source;
  } else {
    const dirs = [env.SOCLE_DATA_DIR, "./socle-data", defaultDataDir(opts.compiled ?? isCompiledBinary())];
    for (const dir of dirs) {
      if (!dir) continue;
      const candidate = join(dir, "pki", "ca.pem");
      if (exists(candidate)) {
        caFile = candidate;
        caSource = "data-dir";
        break;
      }
    }
  }

  const out = settings.get("output");
  const output = out ? parseChoice(out.source, out.raw, OUTPUT_FORMATS) : "json";

  return { endpoint, auth, caFile, caSource, insecure, output, args: rest };
}

function parseEndpoint(source: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(source, `invalid URL "${raw}" (expected e.g. ${DEFAULT_ENDPOINT})`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(source, `invalid URL "${raw}": scheme must be https or http`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new ConfigError(source, `invalid URL "${raw}": give only scheme, host, port and path`);
  }
  return url.toString().replace(/\/+$/, "");
}

export function clientFlagsHelp(): string {
  return flagHelp(CLIENT_FLAGS);
}
