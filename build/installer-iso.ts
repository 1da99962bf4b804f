// The installer ISO of the lab's ISO-import scenario: Debian's real netboot installer
// (debian-installer-12-netboot-amd64: its kernel `linux` and its `initrd.gz`) laid out as
// Debian's mini.iso is (both at the top, where the shipped debian-12 boot environment expects
// them under its install tree). It is not itself bootable (no El Torito image): the lab boots the
// installer over the network from the tree Socle explodes it into. Built with xorriso from the apt
// cache the boot assets use, under .cache/installer-iso/ (git-ignored), and cached: the same
// package builds nothing the second time.
//
//   bun build/installer-iso.ts [--out DIR]

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { AssetError, aptUnavailable, debFor, unpackDeb, type AptOptions } from "../src/assets/debian.ts";

const ROOT = resolve(import.meta.dir, "..");
export const INSTALLER_ISO_DIR = join(ROOT, ".cache", "installer-iso");
export const INSTALLER_ISO_NAME = "debian-12-mini-amd64.iso";
const PACKAGE = "debian-installer-12-netboot-amd64";
const IMAGES = "usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64";

export interface InstallerIso {
  path: string;
  /** The package it was built from (its .deb file name). */
  from: string;
}

export async function buildInstallerIso(opts: { outDir?: string; cacheDir?: string; log?: (line: string) => void } = {}): Promise<InstallerIso> {
  const outDir = resolve(opts.outDir ?? INSTALLER_ISO_DIR);
  const log = opts.log ?? ((l: string) => console.log(`installer-iso: ${l}`));
  const aptOpts: AptOptions = { cacheDir: resolve(opts.cacheDir ?? join(ROOT, ".cache", "assets")), log };
  const noApt = aptUnavailable();
  if (noApt) throw new AssetError(`installer ISO: ${noApt}`);
  const xorriso = Bun.which("xorriso");
  if (!xorriso) throw new AssetError("installer ISO: xorriso is missing (apt-get install xorriso, or test/lab/install-deps.sh --extras)");
  const deb = await debFor(aptOpts, "amd64", PACKAGE);
  const out = join(outDir, INSTALLER_ISO_NAME);
  const stamp = join(outDir, "stamp");
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, "utf8") === basename(deb)) {
    log(`${out} is current (${basename(deb)})`);
    return { path: out, from: basename(deb) };
  }
  mkdirSync(outDir, { recursive: true });
  const work = join(outDir, "work");
  rmSync(work, { recursive: true, force: true });
  await unpackDeb(deb, join(work, "deb"));
  const images = join(work, "deb", IMAGES);
  const tree = join(work, "tree");
  mkdirSync(tree, { recursive: true });
  for (const f of ["linux", "initrd.gz"]) {
    if (!existsSync(join(images, f))) throw new AssetError(`installer ISO: ${PACKAGE} has no ${IMAGES}/${f}`);
    writeFileSync(join(tree, f), readFileSync(join(images, f)));
  }
  const r = Bun.spawnSync([xorriso, "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "DEBIAN 12 NETBOOT", "-o", `${out}.part`, tree], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new AssetError(`installer ISO: xorriso failed: ${r.stderr.toString().slice(-500)}`);
  Bun.spawnSync(["mv", "-f", `${out}.part`, out]);
  writeFileSync(stamp, basename(deb));
  rmSync(work, { recursive: true, force: true });
  log(`${out} built from ${basename(deb)}`);
  return { path: out, from: basename(deb) };
}

if (import.meta.main) {
  const i = process.argv.indexOf("--out");
  await buildInstallerIso(i > 0 ? { outDir: process.argv[i + 1]! } : {});
}
