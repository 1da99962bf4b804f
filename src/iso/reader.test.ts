// The ISO reader against images xorriso builds from trees made here: every entry and every byte
// of every file as in the source tree (Rock Ridge, Joliet, plain ISO 9660, El Torito), hostile
// images (names, symlinks out of the tree, loops, extents past the end) refused with IsoError,
// and a bounded fuzz of mutated images that never ends in anything but an image read or an
// IsoError. Skips, saying so, where xorriso is not installed (test/lab/install-deps.sh --extras).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { IsoError, bytesSource, fileChunks, readIso, type IsoEntry, type IsoImage } from "./reader.ts";
import { dirRecord } from "./records.ts";

const XORRISO = Bun.which("xorriso");
if (!XORRISO) console.log("skip: src/iso/reader.test.ts needs xorriso (apt-get install xorriso, or test/lab/install-deps.sh --extras)");
const GENISOIMAGE = Bun.which("genisoimage");
const MKUDFFS = Bun.which("mkudffs");
if (!GENISOIMAGE || !MKUDFFS) console.log("skip: the UDF tests of src/iso/reader.test.ts need genisoimage and udftools (test/lab/install-deps.sh --extras)");

let dir = "";
let tree = "";

/** Deterministic bytes, so a failure is reproducible. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const SIZES = [0, 1, 2047, 2048, 2049, 100_000, 1024 * 1024 + 1];
const LONG = "a-long-name-".repeat(16).slice(0, 180) + ".txt";
const UNICODE = "café-naïve-日本.txt";

beforeAll(() => {
  if (!XORRISO) return;
  dir = mkdtempSync(join(tmpdir(), "socle-iso-"));
  tree = join(dir, "tree");
  mkdirSync(join(tree, "sizes"), { recursive: true });
  SIZES.forEach((n, i) => writeFileSync(join(tree, "sizes", `f${n}.bin`), bytes(n, i + 1)));
  let deep = join(tree, "deep");
  for (let i = 0; i < 12; i++) deep = join(deep, `level${i}`);
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, "bottom.txt"), "at the bottom\n");
  mkdirSync(join(tree, "names with spaces"));
  writeFileSync(join(tree, "names with spaces", LONG), "long\n");
  writeFileSync(join(tree, "names with spaces", UNICODE), "unicode\n");
  mkdirSync(join(tree, "links"));
  symlinkSync("../sizes/f1.bin", join(tree, "links", "up"));
  symlinkSync("./here", join(tree, "links", "dot"));
  mkdirSync(join(tree, "empty"));
  writeFileSync(join(tree, "boot.img"), bytes(4 * 2048, 99));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function xorriso(args: string[]): void {
  const r = Bun.spawnSync([XORRISO!, ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`xorriso ${args.join(" ")}: ${r.stderr.toString().slice(-500)}`);
}

function build(name: string, args: string[], root = tree): Uint8Array {
  const out = join(dir, name);
  xorriso(["-as", "mkisofs", "-quiet", ...args, "-o", out, root]);
  return new Uint8Array(readFileSync(out));
}

/** What the source tree holds, as the reader should list it (Joliet has no symlinks). */
function expected(root: string, links = true): Map<string, { kind: string; size: number; target?: string }> {
  const out = new Map<string, { kind: string; size: number; target?: string }>();
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(full);
      if (st.isSymbolicLink()) {
        // The reader keeps targets normalised ("./here" -> "here").
        if (links) out.set(path, { kind: "symlink", size: 0, target: posix.normalize(readlinkSync(full)) });
      } else if (st.isDirectory()) {
        out.set(path, { kind: "dir", size: 0 });
        walk(full, path);
      } else out.set(path, { kind: "file", size: st.size });
    }
  };
  walk(root, "");
  return out;
}

async function contents(img: Uint8Array, e: IsoEntry): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of fileChunks(bytesSource(img), e, 65536)) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * The image lists exactly the tree, and each file holds the same bytes. `rename` maps a source
 * path to the name the image format gives it (Joliet's length limit).
 */
async function sameAsTree(img: Uint8Array, read: IsoImage, links = true, rename: (path: string) => string | undefined = (p) => p): Promise<void> {
  const entryOf = (e: { kind: string; size: number; target?: string }) => ({ kind: e.kind, size: e.size, ...(e.target !== undefined ? { target: e.target } : {}) });
  const want = [...expected(tree, links)].flatMap(([p, v]) => (rename(p) === undefined ? [] : [[rename(p)!, entryOf(v)] as [string, object]])).sort(([a], [b]) => a.localeCompare(b));
  const got = read.entries.map((e) => [e.path, entryOf(e)] as [string, object]).sort(([a], [b]) => a.localeCompare(b));
  expect(got).toEqual(want);
  const source = new Map([...expected(tree, links).keys()].map((p) => [rename(p), p]));
  for (const e of read.entries) {
    if (e.kind !== "file") continue;
    expect(Buffer.compare(await contents(img, e), readFileSync(join(tree, source.get(e.path)!)))).toBe(0);
  }
}

describe.skipIf(!XORRISO)("ISO 9660 reader", () => {
  test("Rock Ridge: every entry, mode, symlink target and byte as in the tree (sizes around sectors, 13 levels deep, long and UTF-8 names)", async () => {
    const img = build("rr.iso", ["-R", "-J", "-joliet-long", "-V", "SOCLE RR"]);
    const read = await readIso(bytesSource(img));
    expect([read.label, read.names]).toEqual(["SOCLE RR", "rockridge"]);
    await sameAsTree(img, read);
    expect(read.entries.find((e) => e.path === "sizes/f1.bin")!.mode! & 0o777).toBe(0o644);
    // Directories come before what they hold.
    const index = new Map(read.entries.map((e, i) => [e.path, i]));
    for (const e of read.entries) {
      const parent = e.path.split("/").slice(0, -1).join("/");
      if (parent) expect(index.get(parent)!).toBeLessThan(index.get(e.path)!);
    }
  });

  test("Joliet only (no Rock Ridge): UCS-2 names, UTF-8 ones included; files byte-identical", async () => {
    const out = join(dir, "joliet.iso");
    xorriso(["-rockridge", "off", "-joliet", "on", "-compliance", "joliet_long_names", "-outdev", out, "-map", tree, "/"]);
    const img = new Uint8Array(readFileSync(out));
    const read = await readIso(bytesSource(img));
    expect(read.names).toBe("joliet");
    // xorriso leaves out of the Joliet tree what has a path longer than 240 characters.
    await sameAsTree(img, read, false, (p) => (p.endsWith(LONG) ? undefined : p));
  });

  test("Rock Ridge relocation (RR_MOVED): directories deeper than 8 levels are listed where they belong, RR_MOVED is not", async () => {
    const out = join(dir, "reloc.iso");
    xorriso(["-compliance", "deep_paths_off", "-rr_reloc_dir", "RR_MOVED", "-outdev", out, "-map", tree, "/"]);
    const img = new Uint8Array(readFileSync(out));
    expect(Buffer.from(img).includes("RR_MOVED")).toBe(true); // it was relocated
    const read = await readIso(bytesSource(img));
    expect(read.names).toBe("rockridge");
    await sameAsTree(img, read);
  });

  test("plain ISO 9660 (neither): identifiers without ';1', files byte-identical", async () => {
    const out = join(dir, "plain.iso");
    xorriso(["-rockridge", "off", "-outdev", out, "-map", join(tree, "sizes"), "/"]);
    const img = new Uint8Array(readFileSync(out));
    const read = await readIso(bytesSource(img));
    expect(read.names).toBe("iso9660");
    expect(read.entries.map((e) => e.path).sort()).toEqual(SIZES.map((n) => `F${n}.BIN`).sort());
    for (const e of read.entries) {
      const n = Number(/^F(\d+)\.BIN$/.exec(e.path)![1]);
      expect(Buffer.compare(await contents(img, e), readFileSync(join(tree, "sizes", `f${n}.bin`)))).toBe(0);
    }
  });

  test("El Torito: the BIOS and the UEFI entries, each naming its image file", async () => {
    const img = build("boot.iso", ["-R", "-b", "boot.img", "-no-emul-boot", "-boot-load-size", "4", "-eltorito-alt-boot", "-e", "boot.img", "-no-emul-boot"]);
    const read = await readIso(bytesSource(img));
    expect(read.boot.map((b) => `${b.platform} ${b.bootable} ${b.media} ${b.path}`)).toEqual(["x86 true no-emulation boot.img", "efi true no-emulation boot.img"]);
    expect(read.boot[0]!.sectorCount).toBe(4);
  });
});

/** The offset of the first occurrence of `needle` in `hay` (throws when absent). */
function find(hay: Uint8Array, needle: string | Uint8Array, from = 0): number {
  const n = typeof needle === "string" ? new TextEncoder().encode(needle) : needle;
  const at = Buffer.from(hay.buffer, hay.byteOffset, hay.length).indexOf(Buffer.from(n), from);
  if (at < 0) throw new Error(`not found: ${needle}`);
  return at;
}

/** The offset in `img` of the primary tree's directory record at `ids` (e.g. ["D1", "D2"]). */
function recordOf(img: Uint8Array, ids: string[]): number {
  let dir = dirRecord(img.subarray(16 * 2048 + 156, 16 * 2048 + 190), 0, false)!;
  let found = -1;
  for (const id of ids) {
    const base = dir.lba * 2048;
    const data = img.subarray(base, base + dir.size);
    found = -1;
    for (let at = 0; at < data.length; ) {
      const r = dirRecord(data, at, false);
      if (!r) {
        at = (Math.floor(at / 2048) + 1) * 2048;
        continue;
      }
      if (r.rawName === id) {
        found = base + at;
        dir = r;
        break;
      }
      at += r.length;
    }
    if (found < 0) throw new Error(`no record ${id}`);
  }
  return found;
}

/** A source that fails loudly (not with IsoError) when asked for bytes outside the image. */
function strictSource(img: Uint8Array) {
  return {
    size: img.length,
    read: async (offset: number, length: number) => {
      if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > img.length) throw new RangeError(`read of ${length} at ${offset} outside ${img.length}`);
      return img.subarray(offset, offset + length);
    },
  };
}

const refused = async (img: Uint8Array): Promise<string> => {
  try {
    await readIso(bytesSource(img));
  } catch (err) {
    if (err instanceof IsoError) return err.message;
    throw err;
  }
  throw new Error("the image was read, not refused");
};

describe.skipIf(!XORRISO)("hostile images are refused with IsoError, naming what", () => {
  let hostile = "";
  beforeAll(() => {
    if (!XORRISO) return;
    hostile = join(dir, "hostile");
    mkdirSync(join(hostile, "d1", "d2"), { recursive: true });
    writeFileSync(join(hostile, "d1", "aa"), "x");
    writeFileSync(join(hostile, "bb"), bytes(5000, 7));
  });

  test("a symlink that climbs out of the tree, and an absolute one", async () => {
    symlinkSync("../../etc/passwd", join(hostile, "d1", "out"));
    expect(await refused(build("out.iso", ["-R"], hostile))).toContain('d1/out: symlink to "../../etc/passwd" climbs out');
    rmSync(join(hostile, "d1", "out"));
    symlinkSync("/etc/passwd", join(hostile, "abs"));
    expect(await refused(build("abs.iso", ["-R"], hostile))).toContain("points outside the image's tree (absolute)");
    rmSync(join(hostile, "abs"));
  });

  test("Rock Ridge names '..' and 'a/b'", async () => {
    const img = build("names.iso", ["-R"], hostile);
    const nm = find(img, new Uint8Array([0x4e, 0x4d, 7, 1, 0, 0x61, 0x61])); // NM, len 7, v1, flags 0, "aa"
    const dots = img.slice();
    dots.set([0x2e, 0x2e], nm + 5);
    expect(await refused(dots)).toContain('refused name ".."');
    const slash = img.slice();
    slash.set([0x61, 0x2f], nm + 5);
    expect(await refused(slash)).toContain('refused name "a/"');
  });

  test("a directory loop, an extent past the end, a truncated image", async () => {
    const img = build("loop.iso", ["-R"], hostile);
    const rootLba = img[16 * 2048 + 156 + 2]! | (img[16 * 2048 + 156 + 3]! << 8);
    const loop = img.slice();
    const d2 = recordOf(loop, ["D1", "D2"]);
    loop.set([rootLba & 0xff, rootLba >> 8, 0, 0], d2 + 2);
    expect(await refused(loop)).toContain("directory loop");
    const past = img.slice();
    const bb = recordOf(past, ["BB.;1"]);
    past.set([0xff, 0xff, 0xff, 0x7f], bb + 10);
    expect(await refused(past)).toContain("ends past the image");
    // Cut inside bb's data (an image ends in padding, so cutting its tail would cut nothing).
    const bbAt = (await readIso(bytesSource(img))).entries.find((e) => e.path === "bb")!.extents[0]!.lba * 2048;
    expect(await refused(img.subarray(0, bbAt + 100))).toContain("bb: extent at sector");
    expect(await refused(new Uint8Array(40 * 2048))).toContain("no primary volume descriptor");
  });

  test("multi-extent files (as a file over 4 GiB is stored): the extents read as one file; a last extent missing is refused", async () => {
    const img = build("multi.iso", ["-R"], hostile);
    const at = recordOf(img, ["BB.;1"]);
    const len = img[at]!;
    const root = dirRecord(img.subarray(16 * 2048 + 156, 16 * 2048 + 190), 0, false)!;
    const base = root.lba * 2048;
    // bb's record twice: the first extent of one sector with the multi-extent flag, the rest after it.
    const rec = img.slice(at, at + len);
    const lba = rec[2]! | (rec[3]! << 8) | (rec[4]! << 16);
    const first = rec.slice();
    first[25] = first[25]! | 0x80;
    first.set([0, 8, 0, 0], 10); // 2048, little-endian
    const second = rec.slice();
    second.set([(lba + 1) & 0xff, ((lba + 1) >> 8) & 0xff, ((lba + 1) >> 16) & 0xff, 0], 2);
    second.set([(5000 - 2048) & 0xff, (5000 - 2048) >> 8, 0, 0], 10);
    const dirBytes = img.subarray(base, base + root.size);
    const used = (() => {
      let n = 0;
      while (n < dirBytes.length && dirBytes[n]! > 0) n += dirBytes[n]!;
      return n;
    })();
    expect(used + len).toBeLessThanOrEqual(2048); // room for one more record in the sector
    const rebuilt = new Uint8Array(root.size);
    const rel = at - base;
    rebuilt.set(dirBytes.subarray(0, rel), 0);
    rebuilt.set(first, rel);
    rebuilt.set(second, rel + len);
    rebuilt.set(dirBytes.subarray(rel + len, used), rel + 2 * len);
    const multi = img.slice();
    multi.set(rebuilt, base);
    const read = await readIso(bytesSource(multi));
    const bb = read.entries.find((e) => e.path === "bb")!;
    expect(bb.extents).toEqual([{ lba, length: 2048 }, { lba: lba + 1, length: 5000 - 2048 }]);
    expect(bb.size).toBe(5000);
    expect(Buffer.compare(await contents(multi, bb), bytes(5000, 7))).toBe(0);
    // The flag on the last extent too: it never ends.
    const open = multi.slice();
    open[base + rel + len + 25] = open[base + rel + len + 25]! | 0x80;
    expect(await refused(open)).toContain("bb: a multi-extent file whose");
  });

  test("fuzz: 1500 images with random bytes changed in their descriptors and directories are read or refused, never anything else", async () => {
    const base = build("fuzz.iso", ["-R", "-J"], tree);
    // Where structure lives: the descriptors and the directory extents (the first ~40 sectors).
    const span = Math.min(base.length, 48 * 2048) - 16 * 2048;
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    let read = 0;
    let refusedCount = 0;
    const started = performance.now();
    for (let i = 0; i < 1500; i++) {
      const img = base.slice();
      for (let k = 0, n = 1 + rand(8); k < n; k++) img[16 * 2048 + rand(span)] = rand(256);
      try {
        const r = await readIso(strictSource(img), { maxEntries: 10_000 });
        for (const e of r.entries) if (e.kind === "file") for await (const _ of fileChunks(strictSource(img), e)) void _;
        read++;
      } catch (err) {
        if (!(err instanceof IsoError)) throw new Error(`mutation ${i}: ${(err as Error)?.stack ?? err}`);
        refusedCount++;
      }
    }
    expect(refusedCount).toBeGreaterThan(0);
    expect(read).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(30_000);
  }, 60_000);
});

describe.skipIf(!GENISOIMAGE || !MKUDFFS)("UDF (Windows media)", () => {
  let win = "";
  let udfDir = "";
  beforeAll(() => {
    if (!GENISOIMAGE || !MKUDFFS) return;
    udfDir = mkdtempSync(join(tmpdir(), "socle-udf-"));
    win = join(udfDir, "win");
    // What wimboot needs, as Windows media lay it out, and some more.
    mkdirSync(join(win, "boot"), { recursive: true });
    mkdirSync(join(win, "sources"));
    mkdirSync(join(win, "efi", "microsoft", "boot"), { recursive: true });
    writeFileSync(join(win, "bootmgr"), bytes(400_000, 21));
    writeFileSync(join(win, "boot", "bcd"), bytes(262_144, 22));
    writeFileSync(join(win, "boot", "boot.sdi"), bytes(3_170_304, 23));
    writeFileSync(join(win, "sources", "boot.wim"), bytes(5 * 1024 * 1024 + 3, 24));
    writeFileSync(join(win, "efi", "microsoft", "boot", "bcd"), bytes(0, 25));
    writeFileSync(join(win, "setup.exe"), bytes(1, 26));
  });
  afterAll(() => {
    if (udfDir) rmSync(udfDir, { recursive: true, force: true });
  });

  const udfIso = (name: string): Uint8Array => {
    const out = join(udfDir, name);
    const r = Bun.spawnSync([GENISOIMAGE!, "-quiet", "-udf", "-V", "SOCLE_WIN", "-o", out, win], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(r.stderr.toString());
    return new Uint8Array(readFileSync(out));
  };

  test("an ISO/UDF bridge image (genisoimage -udf) is read through its UDF tree: every file wimboot needs, byte for byte", async () => {
    const img = udfIso("win.iso");
    const read = await readIso(bytesSource(img));
    expect(read.names).toBe("udf");
    const want = [...expected(win)].map(([p, v]) => [p, v] as [string, object]).sort(([a], [b]) => a.localeCompare(b));
    const got = read.entries.map((e) => [e.path, { kind: e.kind, size: e.size }] as [string, object]).sort(([a], [b]) => a.localeCompare(b));
    expect(got).toEqual(want);
    for (const e of read.entries) if (e.kind === "file") expect(Buffer.compare(await contents(img, e), readFileSync(join(win, e.path)))).toBe(0);
    for (const p of ["bootmgr", "boot/bcd", "boot/boot.sdi", "sources/boot.wim"]) expect(read.entries.some((e) => e.path === p)).toBe(true);
  });

  test("a UDF image with no ISO 9660 tree at all (mkudffs) is read as UDF: its label, no entries", async () => {
    const out = join(udfDir, "pure.udf");
    writeFileSync(out, new Uint8Array(8 * 1024 * 1024));
    const r = Bun.spawnSync([MKUDFFS!, "--media-type=hd", "--blocksize=2048", "--label=SOCLEPURE", out], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    const read = await readIso(bytesSource(new Uint8Array(readFileSync(out))));
    expect([read.names, read.label, read.entries]).toEqual(["udf", "SOCLEPURE", []]);
  });

  test("hostile UDF: a name holding '/', a directory loop, an extent past the end", async () => {
    const img = udfIso("hostile.iso");
    const fid = find(img, new Uint8Array([8, ...new TextEncoder().encode("setup.exe")]), 256 * 2048);
    const slash = img.slice();
    slash[fid + 5] = 0x2f; // "setu/.exe"
    // A FID's tag checksum covers only its first 16 bytes: the name is outside it.
    expect(await refused(slash)).toContain('refused name "setu/.exe"');
    // The "sources" directory's ICB pointed at the root's: a loop.
    const read = await readIso(bytesSource(img));
    expect(read.names).toBe("udf");
    const srcFid = find(img, new Uint8Array([8, ...new TextEncoder().encode("sources")]), 256 * 2048);
    const bootFid = find(img, new Uint8Array([8, ...new TextEncoder().encode("boot")]), 256 * 2048);
    // Each FID's ICB (long_ad) is at +20 from its start; its name at +38 (no implementation use).
    const loop = img.slice();
    loop.set(img.subarray(bootFid - 38 + 20, bootFid - 38 + 36), srcFid - 38 + 20);
    expect(await refused(loop)).toMatch(/directory loop|two entries/);
    expect(await refused(img.subarray(0, img.length - 6 * 1024 * 1024))).toContain("past");
  });

  test("fuzz: 1000 bridge images with random bytes changed in their UDF structures are read or refused, never anything else", async () => {
    const base = udfIso("fuzz.iso");
    let seed = 777;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    let refusedCount = 0;
    for (let i = 0; i < 1000; i++) {
      const img = base.slice();
      // The anchor, the volume descriptors, the file set, entries and directories (sectors 256 on).
      for (let k = 0, n = 1 + rand(6); k < n; k++) img[256 * 2048 + rand(Math.min(img.length - 256 * 2048, 64 * 2048))] = rand(256);
      try {
        const r = await readIso(strictSource(img), { maxEntries: 10_000 });
        for (const e of r.entries) if (e.kind === "file") for await (const _ of fileChunks(strictSource(img), e)) void _;
      } catch (err) {
        if (!(err instanceof IsoError)) throw new Error(`mutation ${i}: ${(err as Error)?.stack ?? err}`);
        refusedCount++;
      }
    }
    expect(refusedCount).toBeGreaterThan(0);
  }, 60_000);
});
