// El Torito boot catalog (the "El Torito" Bootable CD-ROM Format Specification 1.0): which images
// a firmware boots from the disc. The catalog is one sector: a validation entry (checksummed,
// 0x55 0xAA), the initial/default entry, then section headers (0x90, the last 0x91) each followed
// by its entries; a platform of 0xEF is UEFI. Each entry names its image by sector (load RBA);
// an image that is also a file of the tree (isolinux.bin, efiboot.img) is named by its path.

import { IsoError, le16, le32 } from "./records.ts";

export interface BootEntry {
  platform: "x86" | "ppc" | "mac" | "efi" | string;
  bootable: boolean;
  media: "no-emulation" | "floppy-1.2M" | "floppy-1.44M" | "floppy-2.88M" | "hard-disk";
  /** First sector of the boot image. */
  loadRba: number;
  /** 512-byte sectors the firmware loads (0: as the media type implies). */
  sectorCount: number;
  /** The file of the tree that starts at loadRba, if one does. */
  path?: string;
}

const PLATFORMS: Record<number, BootEntry["platform"]> = { 0: "x86", 1: "ppc", 2: "mac", 0xef: "efi" };
const MEDIA: BootEntry["media"][] = ["no-emulation", "floppy-1.2M", "floppy-1.44M", "floppy-2.88M", "hard-disk"];

/** The entries of the catalog sector `b` (at sector `lba`); `files` name the images. */
export function bootEntries(b: Uint8Array, lba: number, files: ReadonlyArray<{ path: string; kind: string; extents: ReadonlyArray<{ lba: number }> }>): BootEntry[] {
  if (b[0] !== 1 || b[30] !== 0x55 || b[31] !== 0xaa) throw new IsoError(`El Torito boot catalog at sector ${lba}: no validation entry`);
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + le16(b, i)) & 0xffff;
  if (sum !== 0) throw new IsoError(`El Torito boot catalog at sector ${lba}: validation entry checksum is wrong`);
  const byRba = new Map<number, string>();
  for (const f of files) if (f.kind === "file" && f.extents[0]) byRba.set(f.extents[0].lba, f.path);
  const out: BootEntry[] = [];
  const entry = (at: number, platform: number): void => {
    const media = MEDIA[b[at + 1]! & 0x0f];
    if (media === undefined) throw new IsoError(`El Torito boot catalog at sector ${lba}: entry at ${at} has media type ${b[at + 1]! & 0x0f}`);
    const rba = le32(b, at + 8);
    const path = byRba.get(rba);
    out.push({ platform: PLATFORMS[platform] ?? `0x${platform.toString(16)}`, bootable: b[at] === 0x88, media, loadRba: rba, sectorCount: le16(b, at + 6), ...(path ? { path } : {}) });
  };
  entry(32, b[1]!);
  for (let at = 64; at + 32 <= b.length; ) {
    const header = b[at]!;
    if (header !== 0x90 && header !== 0x91) break;
    const platform = b[at + 1]!;
    const count = le16(b, at + 2);
    at += 32;
    for (let i = 0; i < count && at + 32 <= b.length; i++, at += 32) {
      if (b[at] === 0x44) continue; // a section entry extension
      entry(at, platform);
    }
    if (header === 0x91) break;
  }
  return out;
}
