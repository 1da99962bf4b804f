// `npm run e2e:prepare`: builds what the QEMU lab boots from Socle, idempotent and cached:
//   - the iPXE loaders from Debian's ipxe package -> assets/ipxe/ (build/fetch-ipxe.ts)
//   - the discovery kernel and initrd -> .cache/e2e/discovery/ (build/discovery/build.ts)
//
//   bun build/e2e-prepare.ts [--lab DIR] [--out DIR] [--install DATA_DIR]
//
// --install copies the discovery kernel and initrd to DATA_DIR/files/discovery/, the operator's
// file tree the boot file server publishes (the discovery bootenv loads
// <ProvisionerURL>/discovery/vmlinuz and /discovery/initrd.img). The e2e suite uploads them
// through the API instead. Prints KEY=VALUE lines (paths) on stdout; logs go to stderr.

import { copyFileSync, existsSync, mkdirSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { fetchIpxe } from "./fetch-ipxe.ts";
import { buildDiscovery } from "./discovery/build.ts";

export const ROOT = resolve(import.meta.dir, "..");
/** The lab sits beside the clone (CI) or is named by SOCLE_E2E_LAB. */
export const DEFAULT_LAB = process.env.SOCLE_E2E_LAB ?? join(ROOT, "..", "shared", "e2e");
export const DEFAULT_OUT = join(ROOT, ".cache", "e2e");

export interface PrepareOptions {
  lab: string;
  out: string;
  install?: string;
}

export interface Prepared {
  ipxeDir: string;
  vmlinuz: string;
  initrd: string;
  kernelVersion: string;
}

export function parsePrepareArgs(argv: readonly string[]): PrepareOptions {
  const o: PrepareOptions = { lab: DEFAULT_LAB, out: DEFAULT_OUT };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(lab|out|install)(?:=(.*))?$/.exec(argv[i] as string);
    if (!m) throw new Error(`e2e-prepare: unknown argument "${argv[i]}" (usage: bun build/e2e-prepare.ts [--lab DIR] [--out DIR] [--install DATA_DIR])`);
    const v = m[2] ?? argv[++i];
    if (!v) throw new Error(`e2e-prepare: --${m[1]}: missing value`);
    if (m[1] === "lab") o.lab = v;
    else if (m[1] === "out") o.out = v;
    else o.install = v;
  }
  return o;
}

export async function prepare(opts: PrepareOptions): Promise<Prepared> {
  const ipxeDir = join(ROOT, "assets", "ipxe");
  await fetchIpxe({ cacheDir: join(ROOT, ".cache", "ipxe"), assetsDir: ipxeDir });
  const img = await buildDiscovery({ outDir: join(opts.out, "discovery"), labDir: opts.lab });
  if (opts.install) {
    const dest = join(resolve(opts.install), "files", "discovery");
    mkdirSync(dest, { recursive: true });
    for (const [from, name] of [[img.vmlinuz, "vmlinuz"], [img.initrd, "initrd.img"]] as const) {
      copyFileSync(from, join(dest, `${name}.tmp`));
      renameSync(join(dest, `${name}.tmp`), join(dest, name));
    }
    console.error(`e2e-prepare: installed the discovery image into ${dest}`);
  }
  for (const f of [img.vmlinuz, img.initrd]) if (!existsSync(f)) throw new Error(`e2e-prepare: "${f}" missing after the build`);
  return { ipxeDir, vmlinuz: img.vmlinuz, initrd: img.initrd, kernelVersion: img.kernelVersion };
}

if (import.meta.main) {
  try {
    const p = await prepare(parsePrepareArgs(process.argv.slice(2)));
    console.log(`IPXE_DIR=${p.ipxeDir}\nDISCOVERY_VMLINUZ=${p.vmlinuz}\nDISCOVERY_INITRD=${p.initrd}\nDISCOVERY_KERNEL=${p.kernelVersion}`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
