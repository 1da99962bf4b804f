// A small argv scanner shared by `serve` and the client verbs: long flags (`--name value`,
// `--name=value`), short flags (`-E value`, `-E=value`), boolean flags (`--flag`,
// `--flag=false`), environment fallbacks (flag wins), and `--` to end flag parsing.

import { ConfigError } from "./config-error.ts";

export interface FlagSpec {
  /** Long name without dashes: "api-port". */
  name: string;
  /** One-letter short name without dash: "E". */
  short?: string;
  /** Environment variable read when the flag is absent. */
  env?: string;
  /** "bool" flags take no separate argument; "value" flags take the next argument or "=value". */
  kind: "bool" | "value";
  /** Default as shown in help text. */
  defaultText: string;
  help: string;
}

/** A raw setting and where it came from ("--api-port" or "SOCLE_API_PORT"), for error messages. */
export interface RawSetting {
  raw: string;
  source: string;
}

export interface ScanResult {
  /** Settings by long name: command line first, then environment. */
  settings: Map<string, RawSetting>;
  /** Arguments that are not known flags, in order (positionals; unknown flags if allowed). */
  rest: string[];
}

export interface ScanOptions {
  /** Pass unknown flags through into `rest` instead of throwing (client globals). */
  passUnknown: boolean;
  /** Hint appended to "unknown flag" errors. */
  helpHint: string;
}

export function scanFlags(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  specs: readonly FlagSpec[],
  opts: ScanOptions,
): ScanResult {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const settings = new Map<string, RawSetting>();
  const rest: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
    const m = /^(--?)([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!m || arg === "-") {
      rest.push(arg);
      continue;
    }
    const [, dashes, name = "", inline] = m;
    const spec = dashes === "--" ? byLong.get(name) : byShort.get(name);
    if (!spec) {
      if (opts.passUnknown) {
        rest.push(arg);
        continue;
      }
      throw new ConfigError("", `unknown flag "${arg}"${opts.helpHint ? ` (${opts.helpHint})` : ""}`);
    }
    const label = dashes === "--" ? `--${name}` : `-${name}`;
    if (spec.kind === "bool") {
      settings.set(spec.name, { raw: inline ?? "true", source: label });
      continue;
    }
    if (inline !== undefined) {
      settings.set(spec.name, { raw: inline, source: label });
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined) throw new ConfigError(label, "missing value");
    settings.set(spec.name, { raw: next, source: label });
    i++;
  }

  for (const spec of specs) {
    if (settings.has(spec.name) || !spec.env) continue;
    const v = env[spec.env];
    if (v !== undefined) settings.set(spec.name, { raw: v, source: spec.env });
  }
  return { settings, rest };
}

/** Help text: one line per flag with its environment variable and default. */
export function flagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const names = (s.short ? `-${s.short}, ` : "    ") + `--${s.name}` + (s.kind === "value" ? " <value>" : "");
    const env = s.env ?? "";
    const def = s.defaultText === "" ? '""' : s.defaultText;
    return { names, env, text: `${s.help} (default ${def})` };
  });
  const w1 = Math.max(...rows.map((r) => r.names.length));
  const w2 = Math.max(...rows.map((r) => r.env.length));
  return rows.map((r) => `  ${r.names.padEnd(w1)}  ${r.env.padEnd(w2)}  ${r.text}`).join("\n");
}
