// Verbs that supply the boot assets (src/assets/catalog.ts) to a local data directory, where the
// server finds them before the embedded ones: `loaders import DIR` copies loaders found in a
// directory (an unpacked Debian package, a self-built iPXE); `discovery build` builds the
// discovery image from Debian packages through this host's apt. Both are the fixes the server
// names at start-up and in GET /api/v3/info for a missing file. They need no server.

import { existsSync, mkdirSync, statSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { LOADER_ASSETS, type AssetArch, type BootAsset } from "../../assets/catalog.ts";
import { obtainAssets } from "../../assets/obtain.ts";
import { replaceFile } from "../../files/atomic-write.ts";
import { CliError, UsageError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { parseVerbArgs } from "../verb-args.ts";
import { usageOf, type VerbSpec } from "../verb-spec.ts";
import { DATA_DIR_FLAG, dataDirOf } from "./local.ts";

const ARCHES = ["amd64", "arm64", "all"] as const;

export const LOADERS_IMPORT: VerbSpec = {
  path: ["loaders", "import"],
  synopsis: "<dir>",
  flags: [DATA_DIR_FLAG],
  summary: "copy the boot loaders found in a directory into <data-dir>/files",
  notes: [
    `Looks for ${LOADER_ASSETS.map((a) => a.path).join(", ")} (also by their names in Debian's packages,`,
    "e.g. grubnetaa64.efi.signed); each found is copied whole (temporary file, then rename).",
  ],
  local: true,
  run: loadersImport,
};

export const DISCOVERY_BUILD: VerbSpec = {
  path: ["discovery", "build"],
  synopsis: "",
  flags: [{ name: "arch", kind: "value", placeholder: "A", choices: ARCHES }, DATA_DIR_FLAG, { name: "cache", kind: "value", placeholder: "DIR" }],
  summary: "build the discovery image from Debian packages into <data-dir>/files/discovery/<arch>/",
  notes: [
    "Needs apt-get and dpkg-deb (a Debian-family host) and its Debian mirror; --arch amd64, arm64 or all (default).",
    "Packages are cached in --cache (default <data-dir>/cache/assets); a second run downloads nothing.",
  ],
  local: true,
  run: discoveryBuild,
};

/** The names a loader is looked for by: its served path, and its file's name in Debian's package. */
const namesOf = (a: BootAsset) => [...new Set([a.path, basename(a.from.file ?? a.path)])];

async function loadersImport(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos, flags } = parseVerbArgs(args, LOADERS_IMPORT, { min: 1, max: 1 });
  const from = pos[0] as string;
  if (!existsSync(from) || !statSync(from).isDirectory()) throw new CliError(`loaders import: "${from}" is not a directory`);
  const dest = join(dataDirOf(ctx, flags), "files");
  let n = 0;
  for (const a of LOADER_ASSETS) {
    const src = namesOf(a).map((name) => join(from, name)).find((c) => existsSync(c) && statSync(c).isFile());
    if (!src) continue;
    const target = join(dest, a.path);
    mkdirSync(dirname(target), { recursive: true });
    await replaceFile(target, (tmp) => copyFile(src, tmp));
    ctx.io.out(`imported ${a.path} (${a.what}, ${statSync(target).size} bytes) from ${src}`);
    n++;
  }
  if (n === 0) {
    throw new CliError(`loaders import: no loader in "${from}" (looked for ${[...new Set(LOADER_ASSETS.flatMap(namesOf))].join(", ")})`);
  }
  return 0;
}

async function discoveryBuild(ctx: VerbContext, args: string[]): Promise<number> {
  const { flags } = parseVerbArgs(args, DISCOVERY_BUILD, { min: 0, max: 0 });
  const arch = flags.get("arch")?.raw ?? "all";
  if (!(ARCHES as readonly string[]).includes(arch)) throw new UsageError(`--arch: invalid value "${arch}" (expected ${ARCHES.join("|")})\nusage: ${usageOf(DISCOVERY_BUILD)}`);
  const arches: AssetArch[] = arch === "all" ? ["amd64", "arm64"] : [arch as AssetArch];
  const dataDir = dataDirOf(ctx, flags);
  const report = await obtainAssets({
    outDir: join(dataDir, "files"),
    arches,
    loaders: false,
    cacheDir: flags.get("cache")?.raw || join(dataDir, "cache", "assets"),
    log: (l) => ctx.io.err(l),
  });
  for (const img of report.images) ctx.io.out(`discovery ${img.arch}: ${img.vmlinuz} and ${img.initrd} (${(img.bytes / 1e6).toFixed(1)} MB, kernel ${img.kernelVersion})`);
  if (report.failed.length > 0) throw new CliError(`discovery build: ${report.failed.map((f) => f.reason).join("; ")}`);
  return 0;
}
