// What the two bootable disk images (build/e2e-image.ts, build/appliance-image.ts) share: the
// GPT disk around a FAT ESP that SYSLINUX (BIOS) and systemd-boot (UEFI) boot from, and the
// outputs (raw, .gz, .zst, SHA256SUMS, a JSON manifest, the stamp of the inputs), each written
// whole or not at all.

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { GPT_TYPE, LEGACY_BIOS_BOOTABLE, SECTOR, gptBytes, guidFromSeed, type GptPartition } from "../../src/assets/gpt.ts";
import { replaceFile } from "../../src/files/atomic-write.ts";

export interface ImageFile {
  file: string;
  bytes: number;
  sha256: string;
}

export const sha256Hex = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

export interface GptDiskInput {
  sectors: number;
  /** Seeds the disk's and partitions' GUIDs, so the same inputs give the same bytes. */
  seed: Uint8Array | string;
  /** SYSLINUX's gptmbr.bin: the BIOS boot code in LBA 0. */
  bootCode: Uint8Array;
  /** The ESP image file and its sectors; partition 1, "socle-boot" unless named, BIOS-bootable. */
  esp: { file: string; first: number; last: number; name?: string };
  /** Further partitions (raw areas), after the ESP. */
  more?: Array<Omit<GptPartition, "guid">>;
}

/** The whole disk: protective MBR and GPT, the ESP's bytes in place, the backup GPT at the end. */
export function gptDisk(d: GptDiskInput): Uint8Array {
  const guid = (n: number) => guidFromSeed(createHash("sha256").update(d.seed).update(String(n)).digest());
  const { head, tail } = gptBytes({
    sectors: d.sectors,
    diskGuid: guid(0),
    bootCode: d.bootCode,
    partitions: [
      { name: d.esp.name ?? "socle-boot", type: GPT_TYPE.efiSystem, guid: guid(1), firstLba: d.esp.first, lastLba: d.esp.last, attributes: LEGACY_BIOS_BOOTABLE },
      ...(d.more ?? []).map((p, i) => ({ ...p, guid: guid(i + 2) })),
    ],
  });
  const disk = new Uint8Array(d.sectors * SECTOR);
  disk.set(head, 0);
  disk.set(readFileSync(d.esp.file), d.esp.first * SECTOR);
  disk.set(tail, disk.length - tail.length);
  return disk;
}

/** `disk` as <name>, <name>.gz and <name>.zst in `outDir`. */
export async function writeImageFiles(outDir: string, name: string, disk: Uint8Array, levels: { gzip: number; zstd: number }): Promise<{ raw: ImageFile; gzip: ImageFile; zstd: ImageFile }> {
  const out = async (file: string, bytes: Uint8Array): Promise<ImageFile> => {
    await replaceFile(join(outDir, file), (tmp) => writeFile(tmp, bytes));
    return { file, bytes: bytes.length, sha256: sha256Hex(bytes) };
  };
  return {
    raw: await out(name, disk),
    gzip: await out(`${name}.gz`, gzipSync(disk, { level: levels.gzip })),
    zstd: await out(`${name}.zst`, Bun.zstdCompressSync(disk, { level: levels.zstd })),
  };
}

/** SHA256SUMS and the manifest (the image without `built`), then the stamp: a build is current only once all are written. */
export async function writeManifest<T extends { raw: ImageFile; gzip: ImageFile; zstd: ImageFile; built: boolean }>(outDir: string, manifestPath: string, stampPath: string, digest: string, image: T): Promise<void> {
  const sums = [image.raw, image.gzip, image.zstd].map((f) => `${f.sha256}  ${f.file}\n`).join("");
  await replaceFile(join(outDir, "SHA256SUMS"), (tmp) => writeFile(tmp, sums));
  const { built: _, ...manifest } = image;
  await replaceFile(manifestPath, (tmp) => writeFile(tmp, JSON.stringify(manifest, null, 2) + "\n"));
  writeFileSync(stampPath, digest + "\n");
}
