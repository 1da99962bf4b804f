// The e2e disk image's first partition: one FAT file system that both firmware kinds boot, written
// into a file without mounting anything (mtools), with the two loaders in it:
// - BIOS: SYSLINUX. The disk's MBR gets syslinux's gptmbr.bin (gpt.ts), which boots the partition
//   marked "legacy BIOS bootable"; `syslinux --install` (Debian's mtools build of the installer,
//   which calls mcopy and mattrib itself) writes the FAT boot sector and ldlinux.sys/.c32; it
//   reads syslinux.cfg from the root. The boot sector finds ldlinux.sys through the BPB's
//   hidden-sectors field, so mformat is told where the partition starts (-H).
// - UEFI: systemd-boot as \EFI\BOOT\BOOTX64.EFI (the removable-media path every UEFI firmware
//   tries), reading \loader\loader.conf and \loader\entries\socle.conf; it hands the initrd to
//   the kernel's EFI stub (LINUX_EFI_INITRD_MEDIA), which Debian's 6.1 kernel takes.
// FAT16 (mformat's choice for this size): EDK2 and SYSLINUX read it; an ESP "should" be FAT32,
// which needs 32 MiB or more, and this image is meant to be small.
//
// SOURCE_DATE_EPOCH fixes the files' timestamps (1980-01-01, FAT's epoch) and -N the volume
// serial, so the same inputs give the same bytes.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AssetError, run } from "../../src/assets/debian.ts";

export interface EspTools {
  /** Unpacked `mtools` package (usr/bin/mformat, mcopy, ...). */
  mtools: string;
  /** Unpacked `syslinux` package (usr/bin/syslinux, usr/lib/SYSLINUX/gptmbr.bin). */
  syslinux: string;
  /** Unpacked `systemd-boot-efi` package. */
  systemdBoot: string;
}

export interface EspInput {
  kernel: string;
  initrd: string;
  cmdline: string;
  /** The partition's first LBA on the disk (the FAT's hidden sectors). */
  startLba: number;
  /** FAT volume serial, 8 hex digits. */
  serial: string;
  /** The boot menu's title (systemd-boot); default "Socle e2e image". */
  title?: string;
  /** More files, by FAT path (the appliance image's executable and settings). */
  extraFiles?: Record<string, string | Uint8Array>;
}

/** The BIOS boot code for the disk's MBR (440 bytes). */
export function gptMbr(tools: EspTools): Uint8Array {
  return readFileSync(join(tools.syslinux, "usr/lib/SYSLINUX/gptmbr.bin"));
}

/** What goes on the partition besides what the syslinux installer writes, by FAT path. */
export function espFiles(input: EspInput, tools: EspTools): Record<string, string | Uint8Array> {
  const enc = (s: string) => new TextEncoder().encode(s);
  return {
    "/vmlinuz": input.kernel,
    "/initrd.img": input.initrd,
    "/syslinux.cfg": enc(
      ["SERIAL 0 115200", "DEFAULT socle", "PROMPT 0", "TIMEOUT 0", "LABEL socle", "  LINUX /vmlinuz", "  INITRD /initrd.img", `  APPEND ${input.cmdline}`, ""].join("\n"),
    ),
    "/EFI/BOOT/BOOTX64.EFI": join(tools.systemdBoot, "usr/lib/systemd/boot/efi/systemd-bootx64.efi"),
    "/loader/loader.conf": enc("default socle.conf\ntimeout 0\neditor no\n"),
    "/loader/entries/socle.conf": enc([`title ${input.title ?? "Socle e2e image"}`, "linux /vmlinuz", "initrd /initrd.img", `options ${input.cmdline}`, ""].join("\n")),
    ...input.extraFiles,
  };
}

/**
 * A FAT file system of `sectors` sectors in the file `out` (created or replaced) holding
 * espFiles, with SYSLINUX installed. `work` is a scratch directory.
 */
export async function buildEsp(out: string, sectors: number, input: EspInput, tools: EspTools, work: string): Promise<void> {
  if (!/^[0-9a-f]{8}$/i.test(input.serial)) throw new AssetError(`esp: volume serial "${input.serial}" is not 8 hex digits`);
  const bin = join(tools.mtools, "usr/bin");
  const env = { PATH: `${bin}:/usr/bin:/bin`, MTOOLS_SKIP_CHECK: "1", SOURCE_DATE_EPOCH: "315532800", HOME: work, TMPDIR: work };
  const m = (tool: string, ...args: string[]) => run([join(bin, tool), "-i", out, ...args], { env, what: `esp: ${tool}` });
  writeFileSync(out, new Uint8Array(0));
  // mformat sizes the file system from -T; the file must be that long first.
  await run(["truncate", "-s", String(sectors * 512), out], { what: "esp: truncate" });
  await m("mformat", "-v", "SOCLE-ESP", "-N", input.serial, "-H", String(input.startLba), "-h", "64", "-s", "32", "-T", String(sectors), "::");
  const files = espFiles(input, tools);
  const dirs = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) dirs.add(`/${parts.slice(0, i).join("/")}`);
  }
  for (const d of [...dirs].sort()) await m("mmd", `::${d}`);
  for (const [path, src] of Object.entries(files)) {
    let file = src as string;
    if (typeof src !== "string") {
      file = join(work, path.split("/").pop()!);
      writeFileSync(file, src);
    }
    await m("mcopy", "-o", file, `::${path}`);
  }
  await run([join(tools.syslinux, "usr/bin/syslinux"), "--install", out], { env, what: "esp: syslinux --install" });
}
