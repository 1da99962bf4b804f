// The "newc" cpio format (SVR4, no CRC) that the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Pure: entries in, bytes out.
//
// Folklore the kernel cares about:
// - Every header is 110 ASCII bytes ("070701" + 13 fields of 8 hex digits), the name follows with
//   its NUL, and both the name and the data are padded to a multiple of 4 bytes.
// - Parent directories must come before what they hold; the archive ends with "TRAILER!!!".
// - Concatenated archives are unpacked in order, later files replacing earlier ones.

export type CpioEntry =
  | { name: string; type: "dir"; mode?: number }
  | { name: string; type: "file"; data: Uint8Array; mode?: number }
  | { name: string; type: "symlink"; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

const enc = new TextEncoder();

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio: field value ${n} does not fit 8 hex digits`);
  return n.toString(16).padStart(8, "0");
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/**
 * A newc archive of `entries`, in the order given, owned by root, with mtime `mtime` (seconds;
 * default 0, so the same inputs always give the same bytes). Names are relative ("bin/sh"); a
 * leading "/" or "./" is refused, as are "..", empty names and duplicates.
 */
export function cpioArchive(entries: readonly CpioEntry[], mtime = 0): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    size += b.length;
  };
  const seen = new Set<string>();
  let ino = 1;
  const write = (name: string, mode: number, data: Uint8Array, nlink: number) => {
    const nameBytes = enc.encode(name + "\0");
    const header =
      "070701" +
      [ino++, mode, 0, 0, nlink, mtime, data.length, 0, 0, 0, 0, nameBytes.length, 0].map(hex8).join("");
    push(enc.encode(header));
    push(nameBytes);
    push(new Uint8Array(pad4(110 + nameBytes.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };
  for (const e of entries) {
    if (e.name === "" || e.name.startsWith("/") || e.name.startsWith("./") || e.name.split("/").some((s) => s === ".." || s === "")) {
      throw new Error(`cpio: bad entry name "${e.name}" (relative, no "..", no empty segments)`);
    }
    if (seen.has(e.name)) throw new Error(`cpio: duplicate entry "${e.name}"`);
    seen.add(e.name);
    if (e.type === "dir") write(e.name, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0), 2);
    else if (e.type === "file") write(e.name, S_IFREG | (e.mode ?? 0o644), e.data, 1);
    else write(e.name, S_IFLNK | 0o777, enc.encode(e.target), 1);
  }
  write("TRAILER!!!", 0, new Uint8Array(0), 1);
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * The entries of a newc archive, in order, up to its trailer (modes without the type bits). The
 * inverse of cpioArchive for what it writes; device nodes and fifos are refused by name, and hard
 * links (which cpioArchive never writes) are not joined: each is read as the file it claims to be.
 */
export function cpioRead(archive: Uint8Array): CpioEntry[] {
  const dec = new TextDecoder();
  const out: CpioEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + 110 > archive.length) throw new Error(`cpio: archive ends at byte ${archive.length} without a trailer`);
    const h = dec.decode(archive.subarray(off, off + 110));
    if (!h.startsWith("070701")) throw new Error(`cpio: no newc header at byte ${off} (found "${h.slice(0, 6)}")`);
    const field = (i: number) => parseInt(h.slice(6 + i * 8, 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameLen = field(11);
    const name = dec.decode(archive.subarray(off + 110, off + 110 + nameLen - 1));
    const start = off + 110 + nameLen + pad4(110 + nameLen);
    if (start + size > archive.length) throw new Error(`cpio: "${name}" claims ${size} bytes but ${archive.length - start} remain`);
    const data = archive.subarray(start, start + size);
    off = start + size + pad4(size);
    if (name === "TRAILER!!!") return out;
    const type = mode & 0o170000;
    if (type === S_IFDIR) out.push({ name, type: "dir", mode: mode & 0o7777 });
    else if (type === S_IFLNK) out.push({ name, type: "symlink", target: dec.decode(data) });
    else if (type === S_IFREG) out.push({ name, type: "file", data, mode: mode & 0o7777 });
    else throw new Error(`cpio: "${name}" is neither a directory, a file nor a symbolic link (mode ${mode.toString(8)})`);
  }
}
