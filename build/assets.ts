// Obtains what a network boot needs into assets/boot/ (git-ignored), where Socle reads it from
// when run from source and where `npm run build` embeds it: the iPXE and GRUB loaders and the
// discovery image for amd64 and arm64, all from Debian packages through the system's apt-get
// (src/assets/). Cached under .cache/assets/ and idempotent: a second run downloads nothing.
//
//   bun build/assets.ts [--arch amd64,arm64] [--optional] [--out DIR]
//
// `npm install` runs it with --optional (package.json "postinstall"): a host without apt, or
// without network, still installs; the failure is printed with the command that supplies each
// missing file, and the server says the same at start-up. Without --optional a failure exits 1
// (`npm run build` must not embed nothing silently).

import { resolve, join } from "node:path";
import { describeMissing, type AssetArch } from "../src/assets/catalog.ts";
import { obtainAssets } from "../src/assets/obtain.ts";

const ROOT = resolve(import.meta.dir, "..");
const USAGE = "usage: bun build/assets.ts [--arch amd64,arm64] [--optional] [--out DIR]";

export interface AssetsArgs {
  arches: AssetArch[];
  optional: boolean;
  out: string;
}

export function parseAssetsArgs(argv: readonly string[]): AssetsArgs {
  const a: AssetsArgs = { arches: ["amd64", "arm64"], optional: false, out: join(ROOT, "assets", "boot") };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--optional") {
      a.optional = true;
      continue;
    }
    const m = /^--(arch|out)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`assets: unknown argument "${arg}"\n${USAGE}`);
    const v = m[2] ?? argv[++i];
    if (!v) throw new Error(`assets: --${m[1]}: missing value\n${USAGE}`);
    if (m[1] === "out") a.out = resolve(v);
    else {
      const list = v.split(",").map((s) => s.trim());
      const bad = list.find((s) => s !== "amd64" && s !== "arm64");
      if (bad !== undefined || list.length === 0) throw new Error(`assets: --arch: invalid value "${v}" (expected amd64, arm64 or amd64,arm64)`);
      a.arches = [...new Set(list)] as AssetArch[];
    }
  }
  return a;
}

if (import.meta.main) {
  let args: AssetsArgs;
  try {
    args = parseAssetsArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const t0 = performance.now();
  const report = await obtainAssets({ outDir: args.out, arches: args.arches, cacheDir: join(ROOT, ".cache", "assets"), log: (l) => console.error(`assets: ${l}`) });
  for (const img of report.images) console.error(`assets: discovery ${img.arch}: ${(img.bytes / 1e6).toFixed(1)} MB (kernel ${img.kernelVersion})`);
  if (report.failed.length === 0) {
    console.error(`assets: everything a boot needs is in ${args.out} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    process.exit(0);
  }
  for (const f of report.failed) {
    console.error(`assets: could not obtain ${f.assets.map((a) => a.path).join(", ")}: ${f.reason}`);
  }
  console.error(describeMissing(report.failed.flatMap((f) => f.assets)).map((l) => `assets:   ${l}`).join("\n"));
  if (args.optional) {
    console.error("assets: the server still starts and says what is missing; run `npm run assets` once the host can reach its Debian mirror.");
    process.exit(0);
  }
  process.exit(1);
}
