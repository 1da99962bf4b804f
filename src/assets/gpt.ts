// A GUID Partition Table (UEFI 2.10, section 5.3) for a disk image built in a file: the protective
// MBR (with boot code, for BIOS), the primary header and entries at the start, the backup entries
// and header at the end. Pure: a layout in, the bytes of both ends out; the caller writes them.
//
// Folklore:
// - GUIDs are stored mixed-endian: the first three fields little-endian, the last two as written.
// - LastLBA fields are inclusive. Both headers carry the CRC32 of the 128 entries and their own
//   CRC32 computed over 92 bytes with the CRC field zeroed.
// - The protective MBR's one entry (type 0xEE) covers the disk from LBA 1, capped at 2^32-1, and
//   is not marked active: UEFI 2.10 5.2.3 says so, and some firmware then reads the disk as MBR.
//   BIOS does not care: it runs the 440 bytes of boot code (syslinux's gptmbr.bin), which boots
//   the partition whose attribute bit 2, "legacy BIOS bootable", is set.
// - An image written to a larger disk leaves the backup header short of the disk's end; Linux
//   and EDK2 use the primary and say so, and any partitioning tool moves the backup on its next
//   write.

import { crc32 } from "node:zlib";

export const SECTOR = 512;
/** 128 entries of 128 bytes: 32 sectors, the size every tool writes. */
const ENTRIES = 128;
const ENTRY_SIZE = 128;
const ENTRY_SECTORS = (ENTRIES * ENTRY_SIZE) / SECTOR;

export const GPT_TYPE = {
  efiSystem: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
  linuxData: "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
} as const;

/** Attribute bit 2: the partition gptmbr.bin (and other BIOS GPT boot code) boots. */
export const LEGACY_BIOS_BOOTABLE = 1n << 2n;

export interface GptPartition {
  name: string;
  type: string;
  guid: string;
  firstLba: number;
  /** Inclusive. */
  lastLba: number;
  attributes?: bigint;
}

export interface GptLayout {
  /** The disk's size in sectors. */
  sectors: number;
  diskGuid: string;
  partitions: readonly GptPartition[];
  /** Up to 440 bytes of MBR boot code. */
  bootCode?: Uint8Array;
}

/** The first and last LBA a partition may use on a disk of `sectors`. */
export function usableLbas(sectors: number): { first: number; last: number } {
  return { first: 2 + ENTRY_SECTORS, last: sectors - 2 - ENTRY_SECTORS };
}

/** "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" -> its 16 bytes as GPT stores them. */
export function guidBytes(guid: string): Uint8Array {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(guid);
  if (!m) throw new Error(`gpt: "${guid}" is not a GUID (8-4-4-4-12 hex digits)`);
  const hex = (s: string) => s.match(/../g)!.map((h) => parseInt(h, 16));
  return Uint8Array.from([...hex(m[1]!).reverse(), ...hex(m[2]!).reverse(), ...hex(m[3]!).reverse(), ...hex(m[4]!), ...hex(m[5]!)]);
}

/** A version 4 GUID made from the first 16 bytes of `seed` (a hash): the same seed, the same GUID. */
export function guidFromSeed(seed: Uint8Array): string {
  if (seed.length < 16) throw new Error(`gpt: a GUID seed needs 16 bytes, got ${seed.length}`);
  const b = Uint8Array.from(seed.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`.toUpperCase();
}

/**
 * The bytes of the disk's first 34 sectors (protective MBR, primary header, entries) and of its
 * last 33 (backup entries, backup header). Partitions must lie within the usable LBAs and not
 * overlap; names are at most 36 UTF-16 code units.
 */
export function gptBytes(layout: GptLayout): { head: Uint8Array; tail: Uint8Array } {
  const { sectors, partitions } = layout;
  const usable = usableLbas(sectors);
  if (usable.last <= usable.first) throw new Error(`gpt: a disk of ${sectors} sectors is too small for a GPT`);
  if (partitions.length > ENTRIES) throw new Error(`gpt: ${partitions.length} partitions, at most ${ENTRIES}`);
  const sorted = [...partitions].sort((a, b) => a.firstLba - b.firstLba);
  sorted.forEach((p, i) => {
    if (p.firstLba < usable.first || p.lastLba > usable.last || p.lastLba < p.firstLba) {
      throw new Error(`gpt: partition "${p.name}" (LBA ${p.firstLba}-${p.lastLba}) lies outside the usable LBAs ${usable.first}-${usable.last}`);
    }
    const next = sorted[i + 1];
    if (next && next.firstLba <= p.lastLba) throw new Error(`gpt: partitions "${p.name}" and "${next.name}" overlap`);
  });
  const entries = new Uint8Array(ENTRIES * ENTRY_SIZE);
  const ev = new DataView(entries.buffer);
  partitions.forEach((p, i) => {
    const at = i * ENTRY_SIZE;
    if (p.name.length > 36) throw new Error(`gpt: partition name "${p.name}" is longer than 36 characters`);
    entries.set(guidBytes(p.type), at);
    entries.set(guidBytes(p.guid), at + 16);
    ev.setBigUint64(at + 32, BigInt(p.firstLba), true);
    ev.setBigUint64(at + 40, BigInt(p.lastLba), true);
    ev.setBigUint64(at + 48, p.attributes ?? 0n, true);
    for (let c = 0; c < p.name.length; c++) ev.setUint16(at + 56 + 2 * c, p.name.charCodeAt(c), true);
  });
  const entriesCrc = crc32(entries);
  const last = sectors - 1;
  const header = (myLba: number, altLba: number, entriesLba: number) => {
    const h = new Uint8Array(SECTOR);
    const v = new DataView(h.buffer);
    h.set(new TextEncoder().encode("EFI PART"), 0);
    v.setUint32(8, 0x00010000, true);
    v.setUint32(12, 92, true);
    v.setBigUint64(24, BigInt(myLba), true);
    v.setBigUint64(32, BigInt(altLba), true);
    v.setBigUint64(40, BigInt(usable.first), true);
    v.setBigUint64(48, BigInt(usable.last), true);
    h.set(guidBytes(layout.diskGuid), 56);
    v.setBigUint64(72, BigInt(entriesLba), true);
    v.setUint32(80, ENTRIES, true);
    v.setUint32(84, ENTRY_SIZE, true);
    v.setUint32(88, entriesCrc, true);
    v.setUint32(16, crc32(h.subarray(0, 92)), true);
    return h;
  };
  const head = new Uint8Array((2 + ENTRY_SECTORS) * SECTOR);
  const code = layout.bootCode ?? new Uint8Array(0);
  if (code.length > 440) throw new Error(`gpt: MBR boot code is ${code.length} bytes, at most 440`);
  head.set(code, 0);
  const mbr = new DataView(head.buffer);
  // The protective entry: status 0, CHS 0/0/2, type 0xEE, CHS end 0xFFFFFF, LBA 1, size.
  head.set([0x00, 0x00, 0x02, 0x00, 0xee, 0xff, 0xff, 0xff], 446);
  mbr.setUint32(446 + 8, 1, true);
  mbr.setUint32(446 + 12, Math.min(sectors - 1, 0xffffffff), true);
  head[510] = 0x55;
  head[511] = 0xaa;
  head.set(header(1, last, 2), SECTOR);
  head.set(entries, 2 * SECTOR);
  const tail = new Uint8Array((1 + ENTRY_SECTORS) * SECTOR);
  tail.set(entries, 0);
  tail.set(header(last, 1, last - ENTRY_SECTORS), ENTRY_SECTORS * SECTOR);
  return { head, tail };
}

export interface GptRead {
  /** The disk's last LBA (its size in sectors, less one). */
  lastLba: number;
  /** Where the primary header says the backup header is. */
  backupLba: number;
  partitions: Array<{ name: string; type: string; guid: string; firstLba: number; lastLba: number; attributes: bigint }>;
}

/** The partitions of a GPT disk image, from its primary header and entries; throws on a missing header or a CRC that does not match. */
export function readGpt(disk: Uint8Array): GptRead {
  if (disk.length < 34 * SECTOR || new TextDecoder().decode(disk.subarray(SECTOR, SECTOR + 8)) !== "EFI PART") throw new Error("gpt: no GPT header at LBA 1");
  const h = new DataView(disk.buffer, disk.byteOffset + SECTOR, 92);
  const hdr = new Uint8Array(disk.subarray(SECTOR, SECTOR + 92)); // a copy, its CRC field zeroed
  new DataView(hdr.buffer).setUint32(16, 0, true);
  if (crc32(hdr) !== h.getUint32(16, true)) throw new Error("gpt: header CRC mismatch");
  const entriesLba = Number(h.getBigUint64(72, true));
  const count = h.getUint32(80, true);
  const size = h.getUint32(84, true);
  if (size < 128 || count > 1024 || (entriesLba * SECTOR + count * size) > disk.length) throw new Error("gpt: partition entries do not fit the disk");
  const entries = disk.subarray(entriesLba * SECTOR, entriesLba * SECTOR + count * size);
  if (crc32(entries) !== h.getUint32(88, true)) throw new Error("gpt: partition entries CRC mismatch");
  const guid = (b: Uint8Array) => {
    const x = Buffer.from(b).toString("hex");
    const le = (s: string) => s.match(/../g)!.reverse().join("");
    return `${le(x.slice(0, 8))}-${le(x.slice(8, 12))}-${le(x.slice(12, 16))}-${x.slice(16, 20)}-${x.slice(20)}`.toUpperCase();
  };
  const partitions: GptRead["partitions"] = [];
  for (let i = 0; i < count; i++) {
    const e = entries.subarray(i * size, (i + 1) * size);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const v = new DataView(e.buffer, e.byteOffset, size);
    const name = Buffer.from(e.subarray(56, 128)).toString("utf16le").replace(/\0.*$/, "");
    partitions.push({ name, type: guid(e.subarray(0, 16)), guid: guid(e.subarray(16, 32)), firstLba: Number(v.getBigUint64(32, true)), lastLba: Number(v.getBigUint64(40, true)), attributes: v.getBigUint64(48, true) });
  }
  return { lastLba: disk.length / SECTOR - 1, backupLba: Number(h.getBigUint64(32, true)), partitions };
}
