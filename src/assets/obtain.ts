// The whole pipeline: loaders and discovery images for the chosen architectures into one served
// tree (assets/boot/ for the build, <data-dir>/files/ for `socle discovery build`). Each part is
// attempted; a failed part is reported with the command that supplies it, and never hides the
// parts that worked.

import { join, resolve } from "node:path";
import { DISCOVERY_ASSETS, LOADER_ASSETS, type AssetArch, type BootAsset } from "./catalog.ts";
import { AssetError, aptUnavailable, type AptOptions } from "./debian.ts";
import { buildDiscoveryImage, type DiscoveryImage } from "./discovery.ts";
import { obtainLoaders } from "./loaders.ts";

export interface ObtainOptions extends AptOptions {
  /** The served tree: loaders at its top, discovery/<arch>/ below it. */
  outDir: string;
  arches: readonly AssetArch[];
  loaders?: boolean;
  discovery?: boolean;
}

export interface ObtainReport {
  images: DiscoveryImage[];
  /** Assets that could not be obtained, with why. */
  failed: { assets: BootAsset[]; reason: string }[];
}

export async function obtainAssets(given: ObtainOptions): Promise<ObtainReport> {
  // apt reads relative Dir:: paths against its own root, not the working directory.
  const opts = { ...given, cacheDir: resolve(given.cacheDir), outDir: resolve(given.outDir) };
  const report: ObtainReport = { images: [], failed: [] };
  const noApt = aptUnavailable();
  const wanted = (list: readonly BootAsset[]) => list.filter((a) => opts.arches.includes(a.arch));
  if (noApt) {
    const assets = [...(opts.loaders !== false ? wanted(LOADER_ASSETS) : []), ...(opts.discovery !== false ? wanted(DISCOVERY_ASSETS) : [])];
    report.failed.push({ assets, reason: noApt });
    return report;
  }
  if (opts.loaders !== false) {
    try {
      await obtainLoaders({ ...opts, outDir: opts.outDir, arches: opts.arches });
    } catch (e) {
      report.failed.push({ assets: wanted(LOADER_ASSETS), reason: reason(e) });
    }
  }
  if (opts.discovery !== false) {
    for (const arch of opts.arches) {
      try {
        report.images.push(await buildDiscoveryImage({ ...opts, arch, outDir: join(opts.outDir, "discovery", arch) }));
      } catch (e) {
        report.failed.push({ assets: DISCOVERY_ASSETS.filter((a) => a.arch === arch), reason: reason(e) });
      }
    }
  }
  return report;
}

function reason(e: unknown): string {
  if (e instanceof AssetError) return e.message;
  return e instanceof Error ? e.message : String(e);
}
