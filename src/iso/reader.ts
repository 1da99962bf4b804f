// An ISO 9660 image read over a byte source: its tree (Rock Ridge names, modes and symlinks when
// present, else the UDF tree when there is one (udf.ts: Windows media), else Joliet's UCS-2
// names, else plain ISO 9660 identifiers), its files' extents
// (several for a file over 4 GiB), and its El Torito boot entries. Nothing is extracted here:
// the caller streams each file's bytes with fileChunks().
//
// The image is untrusted (an operator's upload, a URL): every structure is bounds-checked, and an
// image that is malformed or hostile is refused as a whole with an IsoError naming the path and
// the reason, before anything is written anywhere:
// - names: empty, ".", "..", or holding "/" or NUL; two entries of one name in one directory;
// - symlinks that are absolute or climb out of the tree;
// - extents (files, directories, continuation areas) that end past the image;
// - directory loops (a directory met twice), more than `maxDepth` levels, more than `maxEntries`
//   entries, more than `maxDirBytes` of directory records, more SUSP continuation areas per
//   record than a real image uses.
// Pure: bytes come from a ByteSource; nothing here opens files.

import { IsoError, SECTOR, descriptorAt, dirRecord, plainName, rockRidge, suspEntries, volumeInfo, type DirRecord, type SuspEntry, type VolumeInfo } from "./records.ts";
import { bootEntries, type BootEntry } from "./el-torito.ts";
import { hasUdf, readUdf } from "./udf.ts";
import { checkLinkTarget } from "./link-target.ts";
import type { ByteSource, Extent, IsoEntry, IsoImage, ReadLimits } from "./types.ts";

export type { ByteSource, Extent, IsoEntry, IsoImage, ReadLimits } from "./types.ts";

export { IsoError } from "./records.ts";
export type { BootEntry } from "./el-torito.ts";

/** An image held in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

const DEFAULTS: Required<ReadLimits> = { maxEntries: 500_000, maxDepth: 64, maxDirBytes: 256 * 1024 * 1024 };
/** Volume descriptors read before giving up on a terminator. */
const MAX_DESCRIPTORS = 64;
/** SUSP continuation areas followed per record. */
const MAX_CONTINUATIONS = 16;

/** Read the image's tree and boot entries. Throws IsoError for a malformed or hostile image. */
export async function readIso(src: ByteSource, limits: ReadLimits = {}): Promise<IsoImage> {
  const lim = { ...DEFAULTS, ...limits };
  const sector = async (lba: number, what: string) => {
    checkExtent(src, lba, SECTOR, what);
    return src.read(lba * SECTOR, SECTOR);
  };
  let primary: VolumeInfo | undefined;
  let joliet: VolumeInfo | undefined;
  let bootCatalog: number | undefined;
  for (let lba = 16; lba < 16 + MAX_DESCRIPTORS; lba++) {
    if ((lba + 1) * SECTOR > src.size) break;
    const d = descriptorAt(await src.read(lba * SECTOR, SECTOR), lba);
    if (!d || d.type === "terminator") break;
    if (d.type === "primary") primary ??= volumeInfo(d);
    else if (d.type === "supplementary") {
      const v = volumeInfo(d);
      if (v.joliet) joliet ??= v;
    } else if (d.type === "boot" && new TextDecoder().decode(d.bytes.subarray(7, 30)) === "EL TORITO SPECIFICATION") {
      bootCatalog = d.bytes[71]! | (d.bytes[72]! << 8) | (d.bytes[73]! << 16) | (d.bytes[74]! * 0x1000000);
    }
  }
  if (!primary) {
    if (await hasUdf(src)) {
      const udf = await readUdf(src, lim, { extent: (l, n, w) => checkExtent(src, l, n, w), name: checkName });
      return { label: udf.label, names: "udf", entries: udf.entries, boot: [] };
    }
    throw new IsoError("not an ISO 9660 image: no primary volume descriptor from sector 16 on");
  }

  // Rock Ridge: an SP entry in the System Use area of the primary root's "." record.
  const rootBytes = await readDirectory(src, primary.root, "/", lim);
  const dot = dirRecord(rootBytes, 0, false);
  const rootRr = dot ? rockRidge((await suspOf(src, dot, 0)).entries) : undefined;
  const rrSkip = rootRr?.sp;
  // Without Rock Ridge, a UDF tree (Windows media: its ISO 9660 tree is a stub) wins over Joliet.
  if (rrSkip === undefined && (await hasUdf(src))) {
    const udf = await readUdf(src, lim, { extent: (l, n, w) => checkExtent(src, l, n, w), name: checkName });
    const boot = bootCatalog === undefined ? [] : bootEntries(await sector(bootCatalog, "El Torito boot catalog"), bootCatalog, udf.entries);
    return { label: udf.label || primary.label, names: "udf", entries: udf.entries, boot };
  }
  const names: IsoImage["names"] = rrSkip !== undefined ? "rockridge" : joliet ? "joliet" : "iso9660";
  const volume = names === "joliet" ? joliet! : primary;

  const entries: IsoEntry[] = [];
  const visited = new Set<number>();
  let dirBytes = 0;
  const walk = async (dir: DirRecord, path: string, depth: number, bytes?: Uint8Array): Promise<void> => {
    if (depth > lim.maxDepth) throw new IsoError(`${path || "/"}: more than ${lim.maxDepth} directory levels`);
    if (visited.has(dir.lba)) throw new IsoError(`${path || "/"}: directory loop (sector ${dir.lba} is listed twice)`);
    visited.add(dir.lba);
    dirBytes += dir.size;
    if (dirBytes > lim.maxDirBytes) throw new IsoError(`directories hold more than ${lim.maxDirBytes} bytes of records`);
    const data = bytes ?? (await readDirectory(src, dir, path || "/", lim));
    const seen = new Set<string>();
    const subdirs: Array<[DirRecord, string]> = [];
    let pending: { name: string; extents: Extent[]; size: number; rec: DirRecord; rr: ReturnType<typeof rockRidge> | undefined } | undefined;
    for (let at = 0; at < data.length; ) {
      const rec = dirRecord(data, at, names === "joliet");
      if (!rec) {
        at = (Math.floor(at / SECTOR) + 1) * SECTOR; // records never cross a sector: the rest is padding
        continue;
      }
      at += rec.length;
      if (rec.rawName === "\0" || rec.rawName === "\x01") continue;
      const rr = names === "rockridge" ? rockRidge((await suspOf(src, rec, rrSkip ?? 0)).entries) : undefined;
      if (rr?.relocated) continue; // listed where its CL entry is
      const name = rr?.name ?? (names === "joliet" ? plainName(rec.rawName) : plainName(rec.rawName));
      const full = path ? `${path}/${name}` : name;
      if (pending && pending.name !== name) throw new IsoError(`${pending.name}: a multi-extent file whose next extent is named ${JSON.stringify(name)}`);
      checkName(name, full);
      if (rec.dir || rr?.childLink !== undefined) {
        if (pending) throw new IsoError(`${full}: a multi-extent file that ends in a directory`);
        claim(seen, name, full);
        let target = rec;
        if (rr?.childLink !== undefined) {
          const moved = dirRecord(await sector(rr.childLink, `${full} (relocated directory)`), 0, false);
          if (!moved || !moved.dir) throw new IsoError(`${full}: relocated directory at sector ${rr.childLink} has no "." record`);
          target = { ...moved, rawName: rec.rawName };
        }
        push(entries, { path: full, kind: "dir", size: 0, extents: [], ...(rr?.mode !== undefined ? { mode: rr.mode } : {}), ...(rec.mtime ? { mtime: rec.mtime } : {}) }, lim);
        subdirs.push([target, full]);
        continue;
      }
      if (rr?.symlink !== undefined) {
        if (pending) throw new IsoError(`${full}: a multi-extent file that ends in a symlink`);
        claim(seen, name, full);
        const target = checkLink(full, rr.symlink);
        push(entries, { path: full, kind: "symlink", size: 0, extents: [], target, ...(rr.mode !== undefined ? { mode: rr.mode } : {}) }, lim);
        continue;
      }
      checkExtent(src, rec.lba, rec.size, full);
      pending ??= { name, extents: [], size: 0, rec, rr };
      if (rec.size > 0) pending.extents.push({ lba: rec.lba, length: rec.size });
      pending.size += rec.size;
      if (rec.multiExtent) continue;
      claim(seen, name, full);
      const f = pending;
      pending = undefined;
      push(entries, { path: full, kind: "file", size: f.size, extents: f.extents, ...(f.rr?.mode !== undefined ? { mode: f.rr.mode } : {}), ...(f.rec.mtime ? { mtime: f.rec.mtime } : {}) }, lim);
    }
    if (pending) throw new IsoError(`${pending.name}: a multi-extent file whose last extent is missing`);
    for (const [sub, subPath] of subdirs) await walk(sub, subPath, depth + 1);
  };
  await walk(volume.root, "", 0, names === "joliet" ? undefined : rootBytes);

  const boot = bootCatalog === undefined ? [] : bootEntries(await sector(bootCatalog, "El Torito boot catalog"), bootCatalog, entries);
  return { label: volume.label, names, entries, boot };
}

/** The bytes of a file entry, extent after extent, in chunks of at most `chunk` bytes. */
export async function* fileChunks(src: ByteSource, entry: IsoEntry, chunk = 1024 * 1024): AsyncGenerator<Uint8Array> {
  if (entry.inline) {
    yield entry.inline;
    return;
  }
  for (const e of entry.extents) {
    checkExtent(src, e.lba, e.length, entry.path);
    for (let done = 0; done < e.length; ) {
      const n = Math.min(chunk, e.length - done);
      yield await src.read(e.lba * SECTOR + done, n);
      done += n;
    }
  }
}

function checkExtent(src: ByteSource, lba: number, length: number, what: string): void {
  const end = lba * SECTOR + length;
  if (!Number.isSafeInteger(end) || end > src.size) {
    throw new IsoError(`${what}: extent at sector ${lba} of ${length} bytes ends past the image (${src.size} bytes)`);
  }
}

/** The largest one directory may be: real ones are kilobytes; a hostile size must not allocate gigabytes. */
export const MAX_DIRECTORY_BYTES = 32 * 1024 * 1024;

async function readDirectory(src: ByteSource, dir: DirRecord, path: string, lim: Required<ReadLimits>): Promise<Uint8Array> {
  const most = Math.min(lim.maxDirBytes, MAX_DIRECTORY_BYTES);
  if (dir.size > most) throw new IsoError(`${path}: directory of ${dir.size} bytes (more than ${most})`);
  checkExtent(src, dir.lba, dir.size, path);
  return src.read(dir.lba * SECTOR, dir.size);
}

/** A record's SUSP entries, with those of its continuation areas. */
async function suspOf(src: ByteSource, rec: DirRecord, skip: number): Promise<{ entries: SuspEntry[] }> {
  let { entries, next } = suspEntries(rec.systemUse, skip);
  for (let hops = 0; next; hops++) {
    if (hops >= MAX_CONTINUATIONS) throw new IsoError(`more than ${MAX_CONTINUATIONS} SUSP continuation areas in one record`);
    if (next.offset + next.length > SECTOR || next.length === 0) throw new IsoError(`SUSP continuation area of ${next.length} bytes at offset ${next.offset} does not fit its sector`);
    checkExtent(src, next.lba, SECTOR, "SUSP continuation area");
    const area = (await src.read(next.lba * SECTOR, SECTOR)).subarray(next.offset, next.offset + next.length);
    const more = suspEntries(area);
    entries = entries.concat(more.entries);
    next = more.next;
  }
  return { entries };
}

function checkName(name: string, full: string): void {
  if (name === "" || name === "." || name === "..") throw new IsoError(`${full || "/"}: refused name ${JSON.stringify(name)}`);
  if (name.includes("/") || name.includes("\0")) throw new IsoError(`${full}: refused name ${JSON.stringify(name)} (holds "/" or NUL)`);
  if (new TextEncoder().encode(name).length > 255) throw new IsoError(`${full}: name longer than 255 bytes`);
}

function claim(seen: Set<string>, name: string, full: string): void {
  if (seen.has(name)) throw new IsoError(`${full}: two entries of this name in one directory`);
  seen.add(name);
}

/** The link's target, normalised (link-target.ts), or an IsoError naming the link. */
function checkLink(full: string, raw: string): string {
  const r = checkLinkTarget(full, raw, "the image's tree");
  if (!r.ok) throw new IsoError(`${full}: ${r.reason}`);
  return r.target;
}

function push(entries: IsoEntry[], e: IsoEntry, lim: Required<ReadLimits>): void {
  if (entries.length >= lim.maxEntries) throw new IsoError(`more than ${lim.maxEntries} entries`);
  entries.push(e);
}
