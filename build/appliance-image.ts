// `npm run build:image`: Socle as an appliance, a raw GPT disk image to write to a USB stick or a
// server's disk (dd), or to boot in a VM, under .cache/appliance-image/ (git-ignored). Both
// firmware kinds boot it: BIOS (SeaBIOS, through SYSLINUX) and UEFI (OVMF, through systemd-boot).
//
//   bun build/appliance-image.ts [--out DIR] [--arch amd64] [--socle FILE]
//
// --socle FILE: put this executable in instead of compiling src/main.ts. The compiled one
// (build/compile.ts, about 2 s; the same bytes for the same inputs, so the stamp below holds) is
// for Bun's baseline x86-64 runtime: SSE4.2 and no AVX2, so that the image boots on older servers
// too (and in QEMU's TCG with -cpu Nehalem; the default runtime needs AVX2).
//
// Built from Debian packages only, through the apt machinery and cache of the boot assets
// (src/assets/debian.ts, .cache/assets/), without root, loop device or mount: Debian's kernel
// (linux-image-amd64) with the modules in APPLIANCE_MODULES; an initramfs of busybox-static,
// sgdisk (gdisk), mke2fs and e2fsck (e2fsprogs) and glibc, each program with exactly the
// libraries it loads (program-closure.ts), and /init (appliance-image/init); the boot partition
// written with mtools, SYSLINUX and systemd-boot as for the e2e image (e2e-image/esp.ts).
//
// Layout (GPT, 512-byte sectors, MiB-aligned):
//   LBA 0        protective MBR with syslinux's gptmbr.bin (BIOS boot code)
//   partition 1  "socle-boot": EFI system partition, FAT, legacy-BIOS-bootable: vmlinuz,
//                initrd.img, SYSLINUX, \EFI\BOOT\BOOTX64.EFI, socle.conf (the settings, with
//                comments), socle/socle (the Socle executable, run from here: replacing this
//                file upgrades the appliance), README.TXT
//   free space   the first boot creates partition 2 "socle-data" (ext4) in all of it, after
//                moving the backup GPT to the end of the disk it was written to
//   last 1 MiB   backup GPT
// The image has no data partition, so that it is as small as its contents and the data partition
// takes the whole stick, whatever its size.
//
// Outputs in DIR (default .cache/appliance-image): socle-appliance-amd64.img, .img.gz, .img.zst,
// SHA256SUMS, socle-appliance-amd64.json (sizes, digests, layout, versions). Cached: a stamp of
// every input (the Socle executable's bytes, packages, scripts, this builder's sources); a second
// run with the same inputs writes nothing.
//
// arm64 is not built: SYSLINUX is x86 only, so an arm64 image would need GRUB or systemd-boot
// alone (UEFI only), and the lab's arm64 firmware under TCG takes minutes per boot.

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename, join, resolve } from "node:path";
import { cpioArchive, type CpioEntry } from "../src/assets/cpio.ts";
import { AssetError, aptUnavailable, debFor, dependencyClosure, run, unpackDeb, type AptOptions } from "../src/assets/debian.ts";
import { DISCOVERY_MODULES } from "../src/assets/discovery.ts";
import { EM_X86_64 } from "../src/assets/elf.ts";
import { SECTOR } from "../src/assets/gpt.ts";
import { loadOrder, moduleName, parseModinfo } from "../src/assets/modinfo.ts";
import { programClosure } from "../src/assets/program-closure.ts";
import { compile } from "./compile.ts";
import { buildEsp, espFiles, gptMbr, type EspTools } from "./e2e-image/esp.ts";
import { gptDisk, writeImageFiles, writeManifest, type ImageFile } from "./e2e-image/disk-image.ts";
import initScript from "./appliance-image/init" with { type: "text" };
import settingsScript from "./appliance-image/socle-appliance-settings" with { type: "text" };
import udhcpcScript from "./appliance-image/udhcpc.script" with { type: "text" };
import defaultConf from "./appliance-image/socle.conf" with { type: "text" };

const ROOT = resolve(import.meta.dir, "..");
export const APPLIANCE_IMAGE_DIR = join(ROOT, ".cache", "appliance-image");
const ASSET_CACHE = join(ROOT, ".cache", "assets");
const USAGE = "usage: bun build/appliance-image.ts [--out DIR] [--arch amd64] [--socle FILE]";

/** Raise when the layout changes in a way the inputs do not show. */
const BUILDER_VERSION = 1;
const LAYOUT_SOURCES = [import.meta.path, join(import.meta.dir, "e2e-image/esp.ts"), join(import.meta.dir, "e2e-image/disk-image.ts"), join(import.meta.dir, "../src/assets/gpt.ts")];
const MIB_SECTORS = (1024 * 1024) / SECTOR;
/**
 * printk.devkmsg=on: /init writes its messages to /dev/kmsg (so that the screen and the serial
 * port both show them), which the kernel otherwise rate-limits to a few lines.
 */
const CMDLINE = "console=tty0 console=ttyS0,115200 printk.devkmsg=on panic=10";
/**
 * The initramfs at zstd -19 (small, built once per input). The image's own .gz and .zst at lower
 * levels: most of it is the Socle executable, whose embedded boot assets are compressed already,
 * so -19 took minutes for a few percent.
 */
const INITRD_ZSTD_LEVEL = 19;
const IMAGE_ZSTD_LEVEL = 9;
const IMAGE_GZIP_LEVEL = 6;
export const BOOT_PARTITION = "socle-boot";
export const DATA_PARTITION = "socle-data";
/** Where /init finds the settings and the executable on the boot partition (FAT paths). */
export const CONF_PATH = "/socle.conf";
export const SOCLE_PATH = "/socle/socle";

/**
 * The discovery image's NICs and disks, and what an appliance boots from and keeps its data on:
 * USB host controllers and mass storage (a stick), IDE/SATA (ata_piix: older servers and QEMU's
 * pc machine), ext4 with the crc32c it checks metadata with (looked up by name at mount time, so
 * it must be loaded first), and FAT with its code pages for the boot partition (Debian's
 * kernel mounts FAT with iocharset ascii unless told otherwise).
 */
export const APPLIANCE_MODULES = [
  ...DISCOVERY_MODULES,
  "xhci_pci", "ehci_pci", "ohci_pci", "uhci_hcd", "usb_storage", "uas", "ata_piix",
  "crc32c_generic", "crc32c_intel", "ext4", "vfat", "nls_cp437", "nls_ascii", "nls_iso8859_1", "nls_utf8",
];

/** Debian programs in the initramfs: package and path in it. */
export const APPLIANCE_PROGRAMS: readonly { pkg: string; path: string }[] = [
  { pkg: "gdisk", path: "sbin/sgdisk" },
  { pkg: "e2fsprogs", path: "sbin/mke2fs" },
  { pkg: "e2fsprogs", path: "sbin/e2fsck" },
];

export type { ImageFile };

export interface ApplianceImage {
  raw: ImageFile;
  gzip: ImageFile;
  zstd: ImageFile;
  arch: "amd64";
  socleVersion: string;
  socleBytes: number;
  kernelVersion: string;
  initrdBytes: number;
  cmdline: string;
  /** The boot partition: byte offset and length on the disk (for mtools' -i IMG@@OFFSET). */
  boot: { partition: number; name: string; offset: number; bytes: number };
  modules: string[];
  modulesNotInKernel: string[];
  /** false when DIR already held an image of the same inputs. */
  built: boolean;
}

export interface ApplianceImageOptions extends AptOptions {
  outDir: string;
  /** The Socle executable (linux amd64, glibc); compiled from src/main.ts when absent. */
  socle?: string;
}

const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
export const imageName = (arch: string) => `socle-appliance-${arch}.img`;
const manifestName = (arch: string) => `socle-appliance-${arch}.json`;

export async function buildApplianceImage(opts: ApplianceImageOptions): Promise<ApplianceImage> {
  const arch = "amd64";
  const outDir = resolve(opts.outDir);
  const aptOpts: AptOptions = { cacheDir: resolve(opts.cacheDir), log: opts.log };
  const noApt = aptUnavailable();
  if (noApt) throw new AssetError(`appliance image: ${noApt}`);
  if (process.arch !== "x64") throw new AssetError(`appliance image: syslinux's installer runs on x86-64 hosts only, this one is ${process.arch}`);
  mkdirSync(outDir, { recursive: true });

  const socle = opts.socle ? resolve(opts.socle) : (await compile(ROOT, { targets: [arch], outdir: join(outDir, "bin"), baseline: true }))[0]!;
  const socleBytes = readFileSync(socle);
  const debs = {
    kernel: await debFor(aptOpts, arch, "linux-image-amd64"),
    busybox: await debFor(aptOpts, arch, "busybox-static"),
    libc: await debFor(aptOpts, arch, "libc6"),
    mtools: await debFor(aptOpts, arch, "mtools"),
    syslinux: await debFor(aptOpts, arch, "syslinux"),
    systemdBoot: await debFor(aptOpts, arch, "systemd-boot-efi"),
  };
  const programDebs = new Set<string>();
  for (const pkg of new Set(APPLIANCE_PROGRAMS.map((p) => p.pkg))) for (const n of await dependencyClosure(aptOpts, arch, pkg)) programDebs.add(await debFor(aptOpts, arch, n));
  const sources = LAYOUT_SOURCES.map((f) => sha(readFileSync(f)));
  const digest = sha(
    [
      String(BUILDER_VERSION), sha(socleBytes), CMDLINE, `${INITRD_ZSTD_LEVEL}/${IMAGE_ZSTD_LEVEL}/${IMAGE_GZIP_LEVEL}`, APPLIANCE_MODULES.join(","), JSON.stringify(APPLIANCE_PROGRAMS),
      sha(initScript), sha(settingsScript), sha(udhcpcScript), sha(defaultConf), ...sources,
      ...Object.values(debs).map((d) => basename(d)), ...[...programDebs].map((d) => basename(d)).sort(),
    ].join("\n"),
  );
  const stamp = join(outDir, `.inputs-${arch}`);
  const manifestPath = join(outDir, manifestName(arch));
  if (existsSync(stamp) && existsSync(manifestPath) && readFileSync(stamp, "utf8").trim() === digest) {
    const m = JSON.parse(readFileSync(manifestPath, "utf8")) as ApplianceImage;
    if ([m.raw, m.gzip, m.zstd].every((f) => existsSync(join(outDir, f.file)) && statSync(join(outDir, f.file)).size === f.bytes)) {
      opts.log(`${outDir} is current`);
      return { ...m, built: false };
    }
  }

  const work = join(outDir, "work");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const socleVersion = /^socle (\S+)/.exec(await run([socle, "version"], { what: "socle version" }))?.[1];
    if (!socleVersion) throw new AssetError(`appliance image: ${socle} version did not say "socle <version>"`);
    const tools: EspTools = { mtools: join(work, "mtools"), syslinux: join(work, "syslinux"), systemdBoot: join(work, "systemd-boot") };
    await unpackDeb(debs.mtools, tools.mtools);
    await unpackDeb(debs.syslinux, tools.syslinux);
    await unpackDeb(debs.systemdBoot, tools.systemdBoot);

    // The kernel and its modules.
    const k = join(work, "kernel");
    await unpackDeb(debs.kernel, k);
    const boot = readdirSync(join(k, "boot")).find((f) => f.startsWith("vmlinuz-"));
    if (!boot) throw new AssetError(`appliance image: ${debs.kernel} has no /boot/vmlinuz-*`);
    const kver = boot.slice("vmlinuz-".length);
    const modRoot = join(k, "lib", "modules", kver);
    const files = new Map<string, string>();
    const index = (dir: string, rel: string) => {
      for (const name of readdirSync(dir)) {
        const full = join(dir, name);
        if (statSync(full).isDirectory()) index(full, `${rel}${name}/`);
        else if (name.endsWith(".ko")) files.set(moduleName(name), `${rel}${name}`);
      }
    };
    index(join(modRoot, "kernel"), "kernel/");
    const bytesOf = new Map<string, Uint8Array>();
    const { order, missing } = loadOrder(APPLIANCE_MODULES, (name) => {
      const rel = files.get(name);
      if (!rel) return undefined;
      const bytes = readFileSync(join(modRoot, rel));
      bytesOf.set(name, bytes);
      return parseModinfo(bytes, rel).depends.map(moduleName);
    });

    // Programs: Debian's, and Socle's own libraries (glibc), each with what the loader maps.
    const roots: string[] = [];
    const socleRoot = join(work, "socle-root");
    mkdirSync(join(socleRoot, "usr", "bin"), { recursive: true });
    copyFileSync(socle, join(socleRoot, "usr", "bin", "socle"));
    roots.push(socleRoot);
    for (const [i, deb] of [debs.libc, ...programDebs].entries()) {
      const r = join(work, "pkg", String(i));
      await unpackDeb(deb, r);
      roots.push(r);
    }
    const closure = programClosure(roots, [...APPLIANCE_PROGRAMS.map((p) => p.path), "usr/bin/socle"], EM_X86_64);
    if (closure.missing.length > 0) throw new AssetError(`appliance image: no ${closure.missing.join(", ")} in the packages`);
    // Socle itself goes on the boot partition, not into the initramfs (RAM).
    const programs: CpioEntry[] = closure.files
      .filter((f) => f.path !== "usr/bin/socle")
      .map((f) => ("target" in f ? { name: f.path, type: "symlink", target: f.target } : { name: f.path, type: "file", data: f.data, mode: f.mode }));
    const mke2fsConf = roots.map((r) => join(r, "etc", "mke2fs.conf")).find((p) => existsSync(p));
    if (!mke2fsConf) throw new AssetError("appliance image: e2fsprogs has no /etc/mke2fs.conf");

    const busyboxDir = join(work, "busybox");
    await unpackDeb(debs.busybox, busyboxDir);
    const enc = (s: string) => new TextEncoder().encode(s);
    const imageVersion = digest.slice(0, 12);
    const dirs = new Set(["bin", "sbin", "dev", "proc", "sys", "run", "tmp", "etc", "lib", "lib/modules", "usr", "usr/bin", "usr/sbin", "var", "var/lib", "var/lib/socle", "boot", "boot/efi"]);
    for (const f of programs) {
      const parts = f.name.split("/");
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
    }
    const entries: CpioEntry[] = [
      ...[...dirs].sort().map((name) => ({ name, type: "dir" as const })),
      { name: "bin/busybox", type: "file", data: readFileSync(join(busyboxDir, "bin", "busybox")), mode: 0o755 },
      { name: "bin/sh", type: "symlink", target: "busybox" },
      { name: "init", type: "file", data: enc(initScript), mode: 0o755 },
      { name: "usr/sbin/socle-appliance-settings", type: "file", data: enc(settingsScript), mode: 0o755 },
      { name: "etc/udhcpc.script", type: "file", data: enc(udhcpcScript), mode: 0o755 },
      { name: "etc/mke2fs.conf", type: "file", data: readFileSync(mke2fsConf) },
      { name: "etc/hosts", type: "file", data: enc("127.0.0.1 localhost socle\n::1 localhost\n") },
      { name: "etc/socle-appliance-release", type: "file", data: enc(`SOCLE_VERSION='${socleVersion}'\nIMAGE_VERSION='${imageVersion}'\nKERNEL_PACKAGE='${basename(debs.kernel)}'\n`) },
      { name: "etc/modules.order", type: "file", data: enc(order.map((m) => `${m}.ko\n`).join("")) },
      ...order.map((m) => ({ name: `lib/modules/${m}.ko`, type: "file" as const, data: bytesOf.get(m)! })),
      ...programs,
    ];
    const initrd = join(work, "initrd.img");
    writeFileSync(initrd, Bun.zstdCompressSync(cpioArchive(entries), { level: INITRD_ZSTD_LEVEL }));
    const vmlinuz = join(work, "vmlinuz");
    copyFileSync(join(k, "boot", boot), vmlinuz);
    rmSync(k, { recursive: true, force: true }); // about 300 MB unpacked

    const seed = createHash("sha256").update(digest).digest();
    const input = {
      kernel: vmlinuz, initrd, cmdline: CMDLINE, startLba: MIB_SECTORS, serial: seed.subarray(0, 4).toString("hex"), title: `Socle ${socleVersion} appliance`,
      extraFiles: { [CONF_PATH]: enc(defaultConf.replace(/\n/g, "\r\n")), [SOCLE_PATH]: socle, "/README.TXT": enc(readme(socleVersion).replace(/\n/g, "\r\n")) },
    };
    const payload = Object.values(espFiles(input, tools)).reduce((n, f) => n + (typeof f === "string" ? statSync(f).size : f.length), 0);
    // FAT tables, directories and cluster slack, and room for a larger executable on an upgrade.
    const espMiB = Math.ceil((payload * 1.25) / (1024 * 1024)) + 8;
    const sectors = (1 + espMiB + 1) * MIB_SECTORS;
    const esp = { first: MIB_SECTORS, last: (1 + espMiB) * MIB_SECTORS - 1 };
    const espFile = join(work, "esp.img");
    await buildEsp(espFile, esp.last - esp.first + 1, input, tools, work);

    const disk = gptDisk({ sectors, seed, bootCode: gptMbr(tools), esp: { file: espFile, ...esp, name: BOOT_PARTITION } });
    const image: ApplianceImage = {
      ...(await writeImageFiles(outDir, imageName(arch), disk, { gzip: IMAGE_GZIP_LEVEL, zstd: IMAGE_ZSTD_LEVEL })),
      arch,
      socleVersion,
      socleBytes: socleBytes.length,
      kernelVersion: kver,
      initrdBytes: statSync(initrd).size,
      cmdline: CMDLINE,
      boot: { partition: 1, name: BOOT_PARTITION, offset: esp.first * SECTOR, bytes: (esp.last - esp.first + 1) * SECTOR },
      modules: order,
      modulesNotInKernel: missing,
      built: true,
    };
    await writeManifest(outDir, manifestPath, stamp, digest, image);
    return image;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The README.TXT on the boot partition: what an operator who opens the stick sees. */
function readme(version: string): string {
  return `Socle ${version} appliance image

socle.conf     the appliance's settings (address, interface, Socle's SOCLE_* settings); edit it
               here before booting. socle.KEY=VALUE on the kernel command line overrides it.
socle/socle    the Socle executable. Replace it with a newer one to upgrade.
vmlinuz, initrd.img, syslinux.cfg, EFI/, loader/   Debian's kernel, the init, the boot loaders.

The first boot creates the partition socle-data (ext4) in the rest of the disk. Socle keeps
everything there (/var/lib/socle/data), and its log in /var/lib/socle/socle.log. The console
shows the address, the API URL and, on the first start, the admin password, which is also in
data/initial-admin-password on socle-data.
`;
}

/**
 * Writes `conf` as socle.conf on the boot partition of the image file `image` (made by
 * buildApplianceImage, whose manifest gives the partition's offset), with mtools from the apt
 * cache: how a test or a script sets a copy's address without mounting anything.
 */
export async function writeApplianceConf(image: string, bootOffset: number, conf: string, opts: AptOptions): Promise<void> {
  const tmp = join(resolve(opts.cacheDir), "work", `appliance-conf-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const mtools = join(tmp, "mtools");
    await unpackDeb(await debFor(opts, "amd64", "mtools"), mtools);
    const file = join(tmp, "socle.conf");
    writeFileSync(file, conf);
    const env = { PATH: `${join(mtools, "usr/bin")}:/usr/bin:/bin`, MTOOLS_SKIP_CHECK: "1", HOME: tmp, TMPDIR: tmp };
    await run([join(mtools, "usr/bin/mcopy"), "-o", "-i", `${image}@@${bootOffset}`, file, `::${CONF_PATH}`], { env, what: "mcopy socle.conf" });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface ApplianceArgs {
  out: string;
  arch: "amd64";
  socle?: string;
}

export function parseApplianceArgs(argv: readonly string[]): ApplianceArgs {
  const args: ApplianceArgs = { out: APPLIANCE_IMAGE_DIR, arch: "amd64" };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(out|arch|socle)(?:=(.*))?$/.exec(argv[i]!);
    if (!m) throw new Error(`appliance-image: unknown argument "${argv[i]}"\n${USAGE}`);
    const v = m[2] ?? argv[++i];
    if (!v) throw new Error(`appliance-image: --${m[1]}: missing value\n${USAGE}`);
    if (m[1] === "out") args.out = resolve(v);
    else if (m[1] === "socle") args.socle = resolve(v);
    else if (v !== "amd64") throw new Error(`appliance-image: --arch "${v}": only amd64 is built (SYSLINUX, the BIOS loader, is x86 only)\n${USAGE}`);
  }
  return args;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

if (import.meta.main) {
  let args: ApplianceArgs;
  try {
    args = parseApplianceArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const t0 = performance.now();
  try {
    const img = await buildApplianceImage({ outDir: args.out, socle: args.socle, cacheDir: ASSET_CACHE, log: (l) => console.error(`appliance-image: ${l}`) });
    for (const f of [img.raw, img.gzip, img.zstd]) console.log(`${join(args.out, f.file)}  ${mb(f.bytes)} (${f.bytes} bytes)  sha256 ${f.sha256}`);
    console.log(`Socle ${img.socleVersion} (${mb(img.socleBytes)}), kernel ${img.kernelVersion}, initrd ${mb(img.initrdBytes)}; boot partition at byte ${img.boot.offset} (${mb(img.boot.bytes)})`);
    console.error(`appliance-image: ${img.built ? "built" : "already current"} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    console.error(`appliance-image: ${e instanceof Error ? e.message : String(e)}`);
    if (e instanceof AssetError && e.fix) console.error(`appliance-image: ${e.fix}`);
    process.exit(1);
  }
}
