// Verbs that need no server: `pki ca` and `version`.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../../package.json" with { type: "json" };
import { defaultDataDir } from "../../config/runtime.ts";
import { CliError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { parseVerbArgs } from "../verb-args.ts";
import type { VerbSpec } from "../verb-spec.ts";

export const DATA_DIR_FLAG = { name: "data-dir", kind: "value", placeholder: "D" } as const;

/** The data directory a local verb works on: --data-dir, else $SOCLE_DATA_DIR, else the default. */
export const dataDirOf = (ctx: VerbContext, flags: Map<string, { raw: string }>): string =>
  flags.get("data-dir")?.raw || ctx.env.SOCLE_DATA_DIR || defaultDataDir();

export const PKI_CA: VerbSpec = {
  path: ["pki", "ca"],
  synopsis: "",
  flags: [DATA_DIR_FLAG],
  summary: "print the CA of a local data dir (for --ca-file)",
  local: true,
  run: pkiCa,
};

export const VERSION: VerbSpec = { path: ["version"], synopsis: "", flags: [], local: true, run: version };

/** Prints <data-dir>/pki/ca.pem, the CA that clients pass as --ca-file. */
async function pkiCa(ctx: VerbContext, args: string[]): Promise<number> {
  const { flags } = parseVerbArgs(args, PKI_CA, { min: 0, max: 0 });
  const path = join(dataDirOf(ctx, flags), "pki", "ca.pem");
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === "ENOENT" ? "no such file (the server creates it on first start; is --data-dir right?)" : code ?? String(e);
    throw new CliError(`cannot read CA certificate "${path}": ${why}`);
  }
  ctx.io.out(pem.trimEnd());
  return 0;
}

export function versionText(): string {
  return `socle ${pkg.version} (bun ${Bun.version}, ${process.platform}-${process.arch})`;
}

async function version(ctx: VerbContext, args: string[]): Promise<number> {
  parseVerbArgs(args, VERSION, { min: 0, max: 0 });
  ctx.io.out(versionText());
  return 0;
}
