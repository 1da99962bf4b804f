// UDF (ECMA-167 with the OSTA UDF profile, 1.02 to 2.01, as on Windows install media and
// ISO/UDF bridge discs): the Anchor Volume Descriptor Pointer at sector 256, the Volume
// Descriptor Sequence it names (the partition and the logical volume, whose File Set Descriptor
// names the root directory), then File Entries and Extended File Entries with their allocation
// descriptors (short, long, or data inline in the entry) and the File Identifier Descriptors of
// directories (OSTA compressed Unicode names). One partition of type 1; no symlinks, no streams,
// no virtual or sparable partitions (read-only media as written by mastering tools).
// Read into the same entries as ISO 9660 (reader.ts), with the same refusals.

import { IsoError, SECTOR, le16, le32 } from "./records.ts";
import type { ByteSource, Extent, IsoEntry, ReadLimits } from "./types.ts";

/** As reader.ts's: real directories are kilobytes. */
const MAX_DIRECTORY_BYTES = 32 * 1024 * 1024;

const ANCHOR = 256;

interface Tag {
  id: number;
  location: number;
}

function tag(b: Uint8Array, at = 0): Tag | undefined {
  if (b.length < at + 16) return undefined;
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + b[at + i]!) & 0xff;
  if (sum !== b[at + 4]) return undefined;
  return { id: le16(b, at), location: le32(b, at + 12) };
}

interface LongAd {
  length: number;
  lbn: number;
}

const longAd = (b: Uint8Array, at: number): LongAd => ({ length: le32(b, at) & 0x3fffffff, lbn: le32(b, at + 4) });

/** Whether the image has a UDF anchor (then readUdf reads its tree). */
export async function hasUdf(src: ByteSource): Promise<boolean> {
  if ((ANCHOR + 1) * SECTOR > src.size) return false;
  const t = tag(await src.read(ANCHOR * SECTOR, SECTOR));
  return t?.id === 2 && t.location === ANCHOR;
}

/** A d-string / d-characters name (OSTA CS0): compression 8 (one byte each) or 16 (UCS-2 BE). */
function cs0(b: Uint8Array): string {
  if (b.length === 0) return "";
  const comp = b[0];
  if (comp === 8) return String.fromCharCode(...b.subarray(1));
  if (comp === 16) {
    let s = "";
    for (let i = 1; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
    return s;
  }
  throw new IsoError(`UDF name with compression ${comp} (only 8 and 16 exist)`);
}

export interface UdfTree {
  label: string;
  entries: IsoEntry[];
}

/** Read the UDF tree. `check` gets every extent and name, as the ISO 9660 walk checks them. */
export async function readUdf(
  src: ByteSource,
  lim: Required<ReadLimits>,
  check: { extent(lba: number, length: number, what: string): void; name(name: string, full: string): void },
): Promise<UdfTree> {
  const sector = async (lba: number, what: string) => {
    check.extent(lba, SECTOR, what);
    return src.read(lba * SECTOR, SECTOR);
  };
  const anchor = await sector(ANCHOR, "UDF anchor");
  const vds = { length: le32(anchor, 16), lba: le32(anchor, 20) };
  if (vds.length > 64 * SECTOR) throw new IsoError(`UDF volume descriptor sequence of ${vds.length} bytes`);
  let partitionStart: number | undefined;
  let partitionLength = 0;
  let fsd: LongAd | undefined;
  let label = "";
  for (let i = 0; i * SECTOR < vds.length; i++) {
    const d = await sector(vds.lba + i, "UDF volume descriptor");
    const t = tag(d);
    if (!t || t.id === 8) break; // terminating descriptor
    if (t.id === 5) {
      partitionStart = le32(d, 188);
      partitionLength = le32(d, 192);
    } else if (t.id === 6) {
      if (le32(d, 212) !== SECTOR) throw new IsoError(`UDF logical block size ${le32(d, 212)}, only ${SECTOR} is read`);
      const id = d.subarray(84, 84 + 128);
      label = cs0(id.subarray(0, Math.min(id[127]!, 127))).replace(/\0+$/, "");
      fsd = longAd(d, 248);
    }
  }
  if (partitionStart === undefined || !fsd) throw new IsoError("UDF: no partition or logical volume descriptor");
  const start = partitionStart;
  const block = (lbn: number, what: string) => {
    if (lbn >= partitionLength) throw new IsoError(`${what}: block ${lbn} is past the UDF partition (${partitionLength} blocks)`);
    return sector(start + lbn, what);
  };
  const fsdBytes = await block(fsd.lbn, "UDF file set descriptor");
  if (tag(fsdBytes)?.id !== 256) throw new IsoError("UDF: no file set descriptor where the logical volume says");
  const root = longAd(fsdBytes, 400);

  const entries: IsoEntry[] = [];
  const visited = new Set<number>();
  let dirBytes = 0;

  /** A (extended) file entry: its type, size, extents in absolute sectors, or inline data. */
  const fileEntry = async (icb: LongAd, what: string) => {
    const b = await block(icb.lbn, what);
    const t = tag(b);
    if (!t || (t.id !== 261 && t.id !== 266)) throw new IsoError(`${what}: no UDF file entry at block ${icb.lbn}`);
    const fileType = b[16 + 11]!;
    const adType = le16(b, 16 + 18) & 7;
    const size = Number(new DataView(b.buffer, b.byteOffset + 56, 8).getBigUint64(0, true));
    const [lEa, lAd, base] = t.id === 261 ? [le32(b, 168), le32(b, 172), 176] : [le32(b, 208), le32(b, 212), 216];
    const adAt = base + lEa;
    if (adAt + lAd > SECTOR) throw new IsoError(`${what}: UDF allocation descriptors run past their entry`);
    const ads = b.subarray(adAt, adAt + lAd);
    const extents: Extent[] = [];
    let inline: Uint8Array | undefined;
    if (adType === 3) inline = ads.slice(0, Math.min(size, ads.length));
    else {
      const step = adType === 0 ? 8 : adType === 1 ? 16 : 0;
      if (step === 0) throw new IsoError(`${what}: UDF allocation descriptor type ${adType} is not read`);
      for (let at = 0; at + step <= ads.length; at += step) {
        const raw = le32(ads, at);
        const len = raw & 0x3fffffff;
        if (len === 0) break;
        if (raw >>> 30 === 3) throw new IsoError(`${what}: UDF allocation descriptors continue elsewhere (not read)`);
        const lbn = le32(ads, at + 4);
        if (lbn + Math.ceil(len / SECTOR) > partitionLength) throw new IsoError(`${what}: extent past the UDF partition`);
        check.extent(start + lbn, len, what);
        extents.push({ lba: start + lbn, length: len });
      }
    }
    const held = inline ? inline.length : extents.reduce((n, e) => n + e.length, 0);
    if (held < size) throw new IsoError(`${what}: UDF entry of ${size} bytes holds only ${held}`);
    return { fileType, size, extents, inline };
  };

  const walk = async (icb: LongAd, path: string, depth: number): Promise<void> => {
    if (depth > lim.maxDepth) throw new IsoError(`${path || "/"}: more than ${lim.maxDepth} directory levels`);
    if (visited.has(icb.lbn)) throw new IsoError(`${path || "/"}: directory loop (block ${icb.lbn} is listed twice)`);
    visited.add(icb.lbn);
    const dir = await fileEntry(icb, path || "/");
    if (dir.size > MAX_DIRECTORY_BYTES) throw new IsoError(`${path || "/"}: directory of ${dir.size} bytes (more than ${MAX_DIRECTORY_BYTES})`);
    dirBytes += dir.size;
    if (dirBytes > lim.maxDirBytes) throw new IsoError(`directories hold more than ${lim.maxDirBytes} bytes`);
    const parts: Uint8Array[] = dir.inline ? [dir.inline] : [];
    for (const e of trim(dir.extents, dir.size)) parts.push(await src.read(e.lba * SECTOR, e.length));
    const data = parts.length === 1 ? parts[0]! : new Uint8Array(Buffer.concat(parts));
    const seen = new Set<string>();
    const subdirs: Array<[LongAd, string]> = [];
    for (let at = 0; at + 38 <= Math.min(data.length, dir.size); ) {
      const t = tag(data, at);
      if (!t || t.id !== 257) throw new IsoError(`${path || "/"}: bad UDF file identifier at offset ${at}`);
      const chars = data[at + 18]!;
      const lFi = data[at + 19]!;
      const child = longAd(data, at + 20);
      const lIu = le16(data, at + 36);
      const nameAt = at + 38 + lIu;
      if (nameAt + lFi > data.length) throw new IsoError(`${path || "/"}: UDF file identifier runs past its directory`);
      const total = (38 + lIu + lFi + 3) & ~3;
      at += total;
      if (chars & 8 || chars & 4) continue; // parent, deleted
      const name = cs0(data.subarray(nameAt, nameAt + lFi));
      const full = path ? `${path}/${name}` : name;
      check.name(name, full);
      if (seen.has(name)) throw new IsoError(`${full}: two entries of this name in one directory`);
      seen.add(name);
      if (entries.length >= lim.maxEntries) throw new IsoError(`more than ${lim.maxEntries} entries`);
      if (chars & 2) {
        entries.push({ path: full, kind: "dir", size: 0, extents: [] });
        subdirs.push([child, full]);
        continue;
      }
      const f = await fileEntry(child, full);
      if (f.fileType === 12) throw new IsoError(`${full}: a UDF symlink (not read)`);
      entries.push({ path: full, kind: "file", size: f.size, extents: trim(f.extents, f.size), ...(f.inline ? { inline: f.inline } : {}) });
    }
    for (const [icbChild, sub] of subdirs) await walk(icbChild, sub, depth + 1);
  };
  await walk(root, "", 0);
  return { label, entries };
}

/** Extents cut to the file's size (the last one may be rounded up to its block). */
function trim(extents: Extent[], size: number): Extent[] {
  const out: Extent[] = [];
  let left = size;
  for (const e of extents) {
    if (left <= 0) break;
    out.push({ lba: e.lba, length: Math.min(e.length, left) });
    left -= e.length;
  }
  return out;
}
