// `npm run e2e:prepare`: the small bootable raw disk image that image-deploy end-to-end tests write
// to a machine's disk and boot from, with its gzip and zstd variants and their SHA-256, under
// .cache/e2e-image/ (git-ignored). amd64; BIOS (SeaBIOS) and UEFI (OVMF) boot it from any disk.
//
//   bun build/e2e-image.ts [--out DIR]
//
// Built only from Debian packages, through the same apt machinery and cache as the boot assets
// (src/assets/debian.ts, .cache/assets/): the discovery image's kernel and initramfs (busybox,
// curl, NIC and disk modules; built here by src/assets/discovery.ts into DIR/discovery) with this
// image's /init (e2e-image/init) laid over it, syslinux + mtools (BIOS loader, FAT writing) and
// systemd-boot-efi (UEFI loader). No loop device, no mount, no root needed to build.
//
// Layout (GPT, 512-byte sectors, every partition MiB-aligned):
//   LBA 0        protective MBR with syslinux's gptmbr.bin (BIOS boot code)
//   partition 1  "socle-boot": EFI system partition, FAT16, legacy-BIOS-bootable; kernel,
//                initrd.img, syslinux (ldlinux.sys, syslinux.cfg), systemd-boot as
//                \EFI\BOOT\BOOTX64.EFI with loader/entries/socle.conf (e2e-image/esp.ts)
//   partition 2  "socle-config": 1 MiB raw config area, zeros in the image; a deploy step writes
//                KEY=value lines and the CA there with dd (e2e-image/config-area.ts)
//   last 1 MiB   backup GPT
// The config area's byte offset is in socle-e2e.json ("configArea"), for `dd seek=`.
//
// Outputs in DIR (default .cache/e2e-image): socle-e2e.img, .img.gz, .img.zst, SHA256SUMS,
// socle-e2e.json (sizes, digests, layout, kernel, whether the agent is in). The image holds
// assets/agent/socle-agent as /usr/sbin/socle-agent when that file exists at build time. Cached:
// a stamp of every input (packages, kernel, initrd, scripts, agent); a second run with the same
// inputs does nothing.

import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { cpioArchive, type CpioEntry } from "../src/assets/cpio.ts";
import { AssetError, aptUnavailable, debFor, unpackDeb, type AptOptions } from "../src/assets/debian.ts";
import { buildDiscoveryImage } from "../src/assets/discovery.ts";
import { SECTOR } from "../src/assets/gpt.ts";
import { CONFIG_AREA } from "./e2e-image/config-area.ts";
import { buildEsp, espFiles, gptMbr, type EspTools } from "./e2e-image/esp.ts";
import { gptDisk, writeImageFiles, writeManifest, type ImageFile } from "./e2e-image/disk-image.ts";
import initScript from "./e2e-image/init" with { type: "text" };
import configScript from "./e2e-image/socle-image-config" with { type: "text" };

const ROOT = resolve(import.meta.dir, "..");
export const E2E_IMAGE_DIR = join(ROOT, ".cache", "e2e-image");
const ASSET_CACHE = join(ROOT, ".cache", "assets");
const AGENT = join(ROOT, "assets", "agent", "socle-agent");
const USAGE = "usage: bun build/e2e-image.ts [--out DIR]";

/** Raise when the layout changes in a way the inputs do not show. */
const BUILDER_VERSION = 1;
/** The files that decide the image's layout, hashed into its stamp. */
const LAYOUT_SOURCES = [import.meta.path, join(import.meta.dir, "e2e-image/esp.ts"), join(import.meta.dir, "e2e-image/config-area.ts"), join(import.meta.dir, "e2e-image/disk-image.ts"), join(import.meta.dir, "../src/assets/gpt.ts")];
const MIB_SECTORS = (1024 * 1024) / SECTOR;
const CMDLINE = "console=tty0 console=ttyS0,115200 panic=10";
const ZSTD_LEVEL = 19;

export type { ImageFile };

export interface E2eImage {
  raw: ImageFile;
  gzip: ImageFile;
  zstd: ImageFile;
  /** Where a deploy step writes the config blob: byte offset and length on the disk. */
  configArea: { partition: number; name: string; offset: number; bytes: number };
  kernelVersion: string;
  cmdline: string;
  agent: "included" | "absent";
  /** false when DIR already held an image of the same inputs. */
  built: boolean;
}

export interface E2eImageOptions extends AptOptions {
  outDir: string;
  /** The machine agent to put in, if the file exists (default assets/agent/socle-agent). */
  agent?: string;
}

const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
const MANIFEST = "socle-e2e.json";

export async function buildE2eImage(opts: E2eImageOptions): Promise<E2eImage> {
  const outDir = resolve(opts.outDir);
  const aptOpts: AptOptions = { cacheDir: resolve(opts.cacheDir), log: opts.log };
  const noApt = aptUnavailable();
  if (noApt) throw new AssetError(`e2e image: ${noApt}`);
  // Debian builds syslinux's installer for x86 only; it runs on this host.
  if (process.arch !== "x64") throw new AssetError(`e2e image: syslinux's installer runs on x86-64 hosts only, this one is ${process.arch}`);
  mkdirSync(outDir, { recursive: true });
  const disc = await buildDiscoveryImage({ ...aptOpts, arch: "amd64", outDir: join(outDir, "discovery") });
  const debs = {
    mtools: await debFor(aptOpts, "amd64", "mtools"),
    syslinux: await debFor(aptOpts, "amd64", "syslinux"),
    systemdBoot: await debFor(aptOpts, "amd64", "systemd-boot-efi"),
  };
  const agentPath = opts.agent ?? AGENT;
  const agent = existsSync(agentPath) ? readFileSync(agentPath) : undefined;
  const kernel = readFileSync(disc.vmlinuz);
  const baseInitrd = readFileSync(disc.initrd);
  // The builder's own sources count too: a change of the layout (GPT, ESP, config area) makes a
  // new image without anyone remembering to bump BUILDER_VERSION.
  const sources = LAYOUT_SOURCES.map((f) => sha(readFileSync(f)));
  const digest = sha(
    [String(BUILDER_VERSION), sha(kernel), sha(baseInitrd), sha(initScript), sha(configScript), agent ? sha(agent) : "no-agent", CMDLINE, String(ZSTD_LEVEL), ...sources, ...Object.values(debs).map((d) => basename(d))].join("\n"),
  );
  const stamp = join(outDir, ".inputs");
  const manifestPath = join(outDir, MANIFEST);
  if (existsSync(stamp) && existsSync(manifestPath) && readFileSync(stamp, "utf8").trim() === digest) {
    const m = JSON.parse(readFileSync(manifestPath, "utf8")) as E2eImage;
    if ([m.raw, m.gzip, m.zstd].every((f) => existsSync(join(outDir, f.file)) && statSync(join(outDir, f.file)).size === f.bytes)) {
      opts.log(`e2e image: ${outDir} is current`);
      return { ...m, built: false };
    }
  }

  const work = join(outDir, "work");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const tools: EspTools = { mtools: join(work, "mtools"), syslinux: join(work, "syslinux"), systemdBoot: join(work, "systemd-boot") };
    await unpackDeb(debs.mtools, tools.mtools);
    await unpackDeb(debs.syslinux, tools.syslinux);
    await unpackDeb(debs.systemdBoot, tools.systemdBoot);

    // The discovery initramfs, then an archive laid over it: the kernel unpacks both in order,
    // the later /init replacing the earlier.
    const enc = (s: string) => new TextEncoder().encode(s);
    const overlay: CpioEntry[] = [
      { name: "init", type: "file", data: enc(initScript), mode: 0o755 },
      { name: "usr/sbin/socle-image-config", type: "file", data: enc(configScript), mode: 0o755 },
      { name: "etc/socle-image-release", type: "file", data: enc(`SOCLE_IMAGE=e2e\nBUILT_FROM=${basename(disc.initrd)} kernel ${disc.kernelVersion}\n`) },
      ...(agent ? [{ name: "usr/sbin/socle-agent", type: "file" as const, data: agent, mode: 0o755 }] : []),
    ];
    const initrd = join(work, "initrd.img");
    writeFileSync(initrd, Buffer.concat([baseInitrd, gzipSync(cpioArchive(overlay), { level: 9 })]));

    // Sizes: the ESP holds its files plus a tenth and a MiB for FAT tables and directories.
    const seed = createHash("sha256").update(digest).digest();
    const input = { kernel: disc.vmlinuz, initrd, cmdline: CMDLINE, startLba: MIB_SECTORS, serial: seed.subarray(0, 4).toString("hex") };
    const payload = Object.values(espFiles(input, tools)).reduce((n, f) => n + (typeof f === "string" ? statSync(f).size : f.length), 0);
    const espMiB = Math.ceil((payload * 1.1) / (1024 * 1024)) + 1;
    const configMiB = CONFIG_AREA.bytes / (1024 * 1024);
    const sectors = (1 + espMiB + configMiB + 1) * MIB_SECTORS;
    const esp = { first: MIB_SECTORS, last: (1 + espMiB) * MIB_SECTORS - 1 };
    const config = { first: esp.last + 1, last: esp.last + CONFIG_AREA.bytes / SECTOR };
    const espFile = join(work, "esp.img");
    await buildEsp(espFile, esp.last - esp.first + 1, input, tools, work);

    const disk = gptDisk({
      sectors,
      seed,
      bootCode: gptMbr(tools),
      esp: { file: espFile, ...esp },
      more: [{ name: CONFIG_AREA.name, type: CONFIG_AREA.type, firstLba: config.first, lastLba: config.last }],
    });
    const image: E2eImage = {
      ...(await writeImageFiles(outDir, "socle-e2e.img", disk, { gzip: 9, zstd: ZSTD_LEVEL })),
      configArea: { partition: CONFIG_AREA.partition, name: CONFIG_AREA.name, offset: config.first * SECTOR, bytes: CONFIG_AREA.bytes },
      kernelVersion: disc.kernelVersion,
      cmdline: CMDLINE,
      agent: agent ? "included" : "absent",
      built: true,
    };
    await writeManifest(outDir, manifestPath, stamp, digest, image);
    return image;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function parseE2eImageArgs(argv: readonly string[]): { out: string } {
  let out = E2E_IMAGE_DIR;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--out(?:=(.*))?$/.exec(argv[i]!);
    if (!m) throw new Error(`e2e-image: unknown argument "${argv[i]}"\n${USAGE}`);
    const v = m[1] ?? argv[++i];
    if (!v) throw new Error(`e2e-image: --out: missing value\n${USAGE}`);
    out = resolve(v);
  }
  return { out };
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

if (import.meta.main) {
  let args: { out: string };
  try {
    args = parseE2eImageArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const t0 = performance.now();
  try {
    const img = await buildE2eImage({ outDir: args.out, cacheDir: ASSET_CACHE, log: (l) => console.error(`e2e-image: ${l}`) });
    for (const f of [img.raw, img.gzip, img.zstd]) console.log(`${join(args.out, f.file)}  ${mb(f.bytes)}  sha256 ${f.sha256}`);
    console.log(`config area: partition ${img.configArea.partition} "${img.configArea.name}" at byte ${img.configArea.offset} (${img.configArea.bytes} bytes); kernel ${img.kernelVersion}; agent ${img.agent}`);
    console.error(`e2e-image: ${img.built ? "built" : "already current"} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    console.error(`e2e-image: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof AssetError && e.fix) console.error(`e2e-image: ${e.fix}`);
    process.exit(1);
  }
}
