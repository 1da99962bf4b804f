// The first-stage loaders (catalog.ts LOADER_ASSETS) out of Debian's packages: `ipxe` (x86
// loaders; Debian builds it for x86 only) and `grub-efi-arm64-signed` (GRUB's arm64 network
// boot image, the arm64 loader: see README "arm64").

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { LOADER_ASSETS, type AssetArch, type BootAsset } from "./catalog.ts";
import { AssetError, debFor, unpackDeb, type AptOptions } from "./debian.ts";
import { replaceFile } from "../files/atomic-write.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

export interface LoaderResult {
  asset: BootAsset;
  sha256: string;
  /** false when the file in place already had these bytes. */
  copied: boolean;
}

/**
 * Put every loader of `arches` under `outDir` (by its served path). Packages are downloaded once
 * into the cache and unpacked once per .deb; a loader whose bytes did not change is left alone.
 */
export async function obtainLoaders(opts: AptOptions & { outDir: string; arches: readonly AssetArch[] }): Promise<LoaderResult[]> {
  const out: LoaderResult[] = [];
  const trees = new Map<string, string>();
  for (const asset of LOADER_ASSETS.filter((a) => opts.arches.includes(a.arch))) {
    let tree = trees.get(asset.from.pkg);
    if (!tree) {
      const deb = await debFor(opts, asset.arch, asset.from.pkg);
      tree = join(opts.cacheDir, "work", `${asset.from.pkg}-${sha256(readFileSync(deb)).slice(0, 12)}`);
      if (!existsSync(join(tree, ".done"))) {
        await unpackDeb(deb, tree);
        await Bun.write(join(tree, ".done"), deb + "\n");
      }
      trees.set(asset.from.pkg, tree);
    }
    const src = join(tree, asset.from.file!);
    if (!existsSync(src)) throw new AssetError(`loaders: package ${asset.from.pkg} has no ${asset.from.file} (${asset.what})`);
    const hash = sha256(readFileSync(src));
    const dest = join(opts.outDir, asset.path);
    const same = existsSync(dest) && sha256(readFileSync(dest)) === hash;
    if (!same) {
      mkdirSync(dirname(dest), { recursive: true });
      await replaceFile(dest, (tmp) => copyFile(src, tmp));
    }
    out.push({ asset, sha256: hash, copied: !same });
  }
  opts.log(`loaders: ${out.map((r) => r.asset.path).join(", ")} in ${opts.outDir} (${out.some((r) => r.copied) ? `updated ${out.filter((r) => r.copied).map((r) => r.asset.path).join(", ")}` : "unchanged"})`);
  return out;
}
