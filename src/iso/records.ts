// The byte layouts of ISO 9660 (ECMA-119) that the reader walks, decoded from one buffer each:
// volume descriptors, directory records and the System Use Sharing Protocol entries (SUSP, IEEE
// P1281) that carry Rock Ridge (P1282): NM names, SL symlinks, PX modes, CL/PL/RE relocation,
// CE continuation areas. Pure: bytes in, values out; every offset is checked against the buffer,
// and whatever does not fit is an IsoError naming what and where, never a RangeError.

export const SECTOR = 2048;

/** A refusal: the image is malformed or hostile (the message says what, and where). */
export class IsoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IsoError";
  }
}

const u8 = (b: Uint8Array, at: number) => {
  if (at >= b.length) throw new IsoError(`record cut short at byte ${at}`);
  return b[at]!;
};
/**
 * Little-endian half of a both-endian 32-bit field (ECMA-119 7.3.3), unsigned: the top byte is
 * added, not or-ed, so 2 GiB and more (a file extent's size) stays positive.
 */
export const le32 = (b: Uint8Array, at: number) => (u8(b, at) | (u8(b, at + 1) << 8) | (u8(b, at + 2) << 16)) + u8(b, at + 3) * 0x1000000;
export const le16 = (b: Uint8Array, at: number) => u8(b, at) | (u8(b, at + 1) << 8);

const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, Math.min(to, b.length)));

export type DescriptorType = "boot" | "primary" | "supplementary" | "partition" | "terminator" | "unknown";

export interface Descriptor {
  type: DescriptorType;
  /** Its sector. */
  lba: number;
  bytes: Uint8Array;
}

/** One volume descriptor (a 2048-byte sector from 16 on), or undefined when it is not one. */
export function descriptorAt(bytes: Uint8Array, lba: number): Descriptor | undefined {
  if (bytes.length < SECTOR || ascii(bytes, 1, 6) !== "CD001") return undefined;
  const code = bytes[0]!;
  const type: DescriptorType = code === 0 ? "boot" : code === 1 ? "primary" : code === 2 ? "supplementary" : code === 3 ? "partition" : code === 255 ? "terminator" : "unknown";
  return { type, lba, bytes };
}

export interface VolumeInfo {
  label: string;
  /** Sectors in the volume, as the descriptor says. */
  blocks: number;
  blockSize: number;
  root: DirRecord;
  /** A supplementary descriptor with a Joliet escape sequence (UCS-2 names). */
  joliet: boolean;
}

/** The primary or a supplementary volume descriptor's fields the reader needs. */
export function volumeInfo(d: Descriptor): VolumeInfo {
  const b = d.bytes;
  const blockSize = le16(b, 128);
  if (blockSize !== SECTOR) throw new IsoError(`volume descriptor at sector ${d.lba}: logical block size ${blockSize}, only ${SECTOR} is read`);
  const esc = ascii(b, 88, 91);
  const joliet = d.type === "supplementary" && (esc === "%/@" || esc === "%/C" || esc === "%/E");
  const rawLabel = b.subarray(40, 72);
  const label = (joliet ? ucs2(rawLabel) : ascii(rawLabel, 0, 32)).replace(/[\s\0]+$/, "");
  const root = dirRecord(b.subarray(156, 190), 0, joliet);
  if (!root) throw new IsoError(`volume descriptor at sector ${d.lba}: no root directory record`);
  return { label, blocks: le32(b, 80), blockSize, root, joliet };
}

function ucs2(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
  return s;
}

export interface DirRecord {
  /** Record length in bytes. */
  length: number;
  lba: number;
  size: number;
  dir: boolean;
  /** More extents of the same file follow (ECMA-119 9.1.6, bit 7). */
  multiExtent: boolean;
  /** "\0" for ".", "\x01" for "..", else the decoded identifier. */
  rawName: string;
  /** The System Use area (SUSP entries), after the identifier and its padding. */
  systemUse: Uint8Array;
  mtime: Date | undefined;
}

/** The directory record at `at` of `b`, or undefined for the zero padding at a sector's end. */
export function dirRecord(b: Uint8Array, at: number, joliet: boolean): DirRecord | undefined {
  const length = b[at] ?? 0;
  if (length === 0) return undefined;
  if (length < 34 || at + length > b.length) throw new IsoError(`directory record of ${length} bytes at offset ${at} does not fit its directory`);
  const r = b.subarray(at, at + length);
  const nameLen = r[32]!;
  if (33 + nameLen > length) throw new IsoError(`directory record at offset ${at}: identifier of ${nameLen} bytes is longer than the record`);
  const id = r.subarray(33, 33 + nameLen);
  const flags = r[25]!;
  let rawName: string;
  if (nameLen === 1 && (id[0] === 0 || id[0] === 1)) rawName = String.fromCharCode(id[0]!);
  else rawName = joliet ? ucs2(id) : ascii(id, 0, id.length);
  const suStart = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
  return {
    length,
    lba: le32(r, 2),
    size: le32(r, 10),
    dir: (flags & 2) !== 0,
    multiExtent: (flags & 0x80) !== 0,
    rawName,
    systemUse: suStart < length ? r.subarray(suStart) : new Uint8Array(0),
    mtime: recordTime(r.subarray(18, 25)),
  };
}

/** ECMA-119 9.1.5: years since 1900, month, day, hour, minute, second, GMT offset in 15 min. */
function recordTime(t: Uint8Array): Date | undefined {
  if (t.length < 7 || t[1] === 0) return undefined;
  const offset = ((t[6]! << 24) >> 24) * 15; // signed
  const ms = Date.UTC(1900 + t[0]!, t[1]! - 1, t[2]!, t[3]!, t[4]!, t[5]!) - offset * 60_000;
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/** A plain ISO 9660 identifier as a file name: ";1" version and a trailing "." dropped. */
export function plainName(raw: string): string {
  const semi = raw.lastIndexOf(";");
  const base = semi >= 0 ? raw.slice(0, semi) : raw;
  return base.endsWith(".") ? base.slice(0, -1) : base;
}

export interface SuspEntry {
  sig: string;
  data: Uint8Array;
}

/** Where a CE entry says the System Use area continues. */
export interface Continuation {
  lba: number;
  offset: number;
  length: number;
}

/**
 * The SUSP entries of one System Use area (after `skip` bytes, the SP entry's LEN_SKP), and the
 * continuation area a CE entry names, if any. ST ends the area.
 */
export function suspEntries(area: Uint8Array, skip = 0): { entries: SuspEntry[]; next: Continuation | undefined } {
  const entries: SuspEntry[] = [];
  let next: Continuation | undefined;
  let at = skip;
  while (at + 4 <= area.length) {
    const len = area[at + 2]!;
    if (len < 4 || at + len > area.length) break; // padding or a truncated entry: nothing more here
    const sig = ascii(area, at, at + 2);
    const data = area.subarray(at + 4, at + len);
    if (sig === "ST") break;
    if (sig === "CE") {
      if (data.length < 24) throw new IsoError("SUSP CE entry shorter than 28 bytes");
      next = { lba: le32(data, 0), offset: le32(data, 8), length: le32(data, 16) };
    } else entries.push({ sig, data });
    at += len;
  }
  return { entries, next };
}

/** What the Rock Ridge entries of one record say. */
export interface RockRidge {
  name?: string;
  /** A symlink's target, as its SL components spell it ("/" for root, "." and ".." kept). */
  symlink?: string;
  mode?: number;
  /** CL: this file stands for the directory relocated to this sector. */
  childLink?: number;
  /** RE: this directory was moved here from deeper; it is listed where its CL entry is. */
  relocated: boolean;
  /** SP seen (only in the root's "." record): Rock Ridge is in use, and its skip length. */
  sp?: number;
  /** ER seen: an extension reference (RRIP). */
  er: boolean;
}

/** Fold SUSP entries (of a record and its continuation areas) into what Rock Ridge says. */
export function rockRidge(entries: readonly SuspEntry[]): RockRidge {
  const rr: RockRidge = { relocated: false, er: false };
  let name: string | undefined;
  let link: string[] | undefined;
  let pending = "";
  for (const { sig, data } of entries) {
    switch (sig) {
      case "SP":
        if (data.length >= 3 && data[0] === 0xbe && data[1] === 0xef) rr.sp = data[2]!;
        break;
      case "ER":
        rr.er = true;
        break;
      case "PX":
        if (data.length >= 4) rr.mode = le32(data, 0);
        break;
      case "NM": {
        if (data.length < 1) break;
        const flags = data[0]!;
        if (flags & 6) break; // "." or "..": not a name
        name = (name ?? "") + new TextDecoder().decode(data.subarray(1));
        break;
      }
      case "SL": {
        if (data.length < 1) break;
        link ??= [];
        let at = 1;
        while (at + 2 <= data.length) {
          const cflags = data[at]!;
          const clen = data[at + 1]!;
          if (at + 2 + clen > data.length) throw new IsoError("Rock Ridge SL component runs past its entry");
          const text = new TextDecoder().decode(data.subarray(at + 2, at + 2 + clen));
          let part = cflags & 2 ? "." : cflags & 4 ? ".." : cflags & 8 ? "" : text;
          part = pending + part;
          if (cflags & 1) pending = part; // continues in the next component
          else {
            pending = "";
            if (cflags & 8) link.push(""); // root: a leading "/"
            else link.push(part);
          }
          at += 2 + clen;
        }
        break;
      }
      case "CL":
        if (data.length >= 4) rr.childLink = le32(data, 0);
        break;
      case "RE":
        rr.relocated = true;
        break;
    }
  }
  if (name !== undefined) rr.name = name;
  if (link !== undefined) rr.symlink = link.length === 1 && link[0] === "" ? "/" : link.join("/");
  return rr;
}
