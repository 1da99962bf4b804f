// An ISO that xorriso builds from a tree, exploded into a directory: the same tree, byte for byte,
// with its symlinks; a second explode replaces the first whole; a refused image or an abort
// leaves the old tree as it was and no temporary directory. Skips, saying so, without xorriso.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IsoError } from "../iso/reader.ts";
import { fileByteSource } from "./byte-source.ts";
import { explodeIso, type ExplodeProgress } from "./explode.ts";

const XORRISO = Bun.which("xorriso");
if (!XORRISO) console.log("skip: src/files/explode.test.ts needs xorriso (apt-get install xorriso, or test/lab/install-deps.sh --extras)");

let dir = "";

function iso(name: string, root: string): string {
  const out = join(dir, name);
  const r = Bun.spawnSync([XORRISO!, "-as", "mkisofs", "-quiet", "-R", "-J", "-o", out, root], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  return out;
}

/** Every path under `root` with what it is: file bytes (hex of a hash), symlink target, or dir. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(full);
      if (st.isSymbolicLink()) out[path] = `-> ${readlinkSync(full)}`;
      else if (st.isDirectory()) {
        out[path] = "dir";
        walk(full, path);
      } else out[path] = `${st.size} ${Bun.hash(readFileSync(full)).toString(16)}`;
    }
  };
  walk(root, "");
  return out;
}

let tree = "";
beforeAll(() => {
  if (!XORRISO) return;
  dir = mkdtempSync(join(tmpdir(), "socle-explode-"));
  tree = join(dir, "tree");
  mkdirSync(join(tree, "install", "images", "pxeboot"), { recursive: true });
  writeFileSync(join(tree, "install", "images", "pxeboot", "vmlinuz"), new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 0xff));
  writeFileSync(join(tree, "install", "images", "pxeboot", "initrd.img"), new Uint8Array(1024 * 1024).map((_, i) => (i * 7) & 0xff));
  writeFileSync(join(tree, "install", "empty"), "");
  symlinkSync("images/pxeboot/vmlinuz", join(tree, "install", "kernel"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!XORRISO)("explodeIso", () => {
  test("runs of zeros are written as holes: the file reads the same, its blocks hold only its data; a file that ends in zeros keeps its size", async () => {
    const sparse = join(dir, "sparse-tree");
    mkdirSync(sparse, { recursive: true });
    const MiB = 1024 * 1024;
    const disk = new Uint8Array(16 * MiB);
    disk.set(new Uint8Array(4096).fill(0xa5), 0); // data, 16 MiB of which 4 KiB is not zero
    disk.set(new Uint8Array(100).fill(0x5a), 9 * MiB + 17);
    writeFileSync(join(sparse, "disk.img"), disk);
    writeFileSync(join(sparse, "zeros.bin"), new Uint8Array(3 * MiB + 5));
    const src = await fileByteSource(iso("sparse.iso", sparse));
    const out = join(dir, "sparse-out");
    try {
      await explodeIso(src, out);
    } finally {
      await src.close();
    }
    expect(Buffer.compare(readFileSync(join(out, "disk.img")), disk)).toBe(0);
    expect(statSync(join(out, "disk.img")).blocks * 512).toBeLessThan(4 * MiB);
    expect(statSync(join(out, "zeros.bin")).size).toBe(3 * MiB + 5);
    expect(readFileSync(join(out, "zeros.bin")).every((b) => b === 0)).toBe(true);
  });

  test("the tree, byte for byte, with its symlinks; progress up to the totals; a second explode replaces the first whole", async () => {
    const src = await fileByteSource(iso("a.iso", tree));
    const target = join(dir, "files", "rocky-9", "install");
    const seen: ExplodeProgress[] = [];
    try {
      const r = await explodeIso(src, target, { onProgress: (p) => seen.push(p), progressEvery: 1024 * 1024 });
      expect(r).toMatchObject({ dirs: 3, files: 3, links: 1, bytes: 4 * 1024 * 1024 + 7 });
    } finally {
      await src.close();
    }
    expect(snapshot(target)).toEqual(snapshot(tree));
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.at(-1)).toEqual({ files: 3, bytes: 4 * 1024 * 1024 + 7, totalFiles: 3, totalBytes: 4 * 1024 * 1024 + 7 });
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.bytes).toBeGreaterThanOrEqual(seen[i - 1]!.bytes);

    // Another image over it: only its files remain.
    const other = join(dir, "other");
    mkdirSync(other);
    writeFileSync(join(other, "only.txt"), "only\n");
    const src2 = await fileByteSource(iso("b.iso", other));
    await explodeIso(src2, target).finally(() => src2.close());
    expect(snapshot(target)).toEqual({ "only.txt": "5 " + Bun.hash(new TextEncoder().encode("only\n")).toString(16) });
    expect(readdirSync(join(dir, "files", "rocky-9"))).toEqual(["install"]);
  });

  test("a refused image (a symlink out of the tree) leaves the old tree and no temporary directory", async () => {
    const target = join(dir, "files", "alma-9", "install");
    mkdirSync(target, { recursive: true });
    writeFileSync(join(target, "keep.txt"), "old\n");
    const bad = join(dir, "bad");
    mkdirSync(bad);
    writeFileSync(join(bad, "x"), "x");
    symlinkSync("../../../etc/shadow", join(bad, "escape"));
    const src = await fileByteSource(iso("bad.iso", bad));
    const err = await explodeIso(src, target).catch((e) => e).finally(() => src.close());
    expect(err).toBeInstanceOf(IsoError);
    expect(String(err.message)).toContain("escape: symlink to");
    expect(readdirSync(join(dir, "files", "alma-9"))).toEqual(["install"]);
    expect(readFileSync(join(target, "keep.txt"), "utf8")).toBe("old\n");
  });

  test("attacker: a chain of links, each inside by its text, cannot lead out: targets are written normalised", async () => {
    const chain = join(dir, "chain");
    mkdirSync(join(chain, "sub"), { recursive: true });
    writeFileSync(join(chain, "sub", "f"), "f");
    symlinkSync(".", join(chain, "s")); // the root itself
    symlinkSync("s/..", join(chain, "up")); // by its text the root; through s, the kernel would climb above it
    symlinkSync("up/up/up/sub/f", join(chain, "x"));
    const target = join(dir, "files", "chain", "install");
    const src = await fileByteSource(iso("chain.iso", chain));
    await explodeIso(src, target).finally(() => src.close());
    const real = realpathSync(target);
    expect(readlinkSync(join(target, "up"))).toBe(".");
    for (const l of ["s", "up", "x"]) expect(realpathSync(join(target, l)).startsWith(real)).toBe(true);
    expect(readFileSync(join(target, "x"), "utf8")).toBe("f");
  });

  test("aborted midway: the old tree stays, the half-written one is removed", async () => {
    const target = join(dir, "files", "debian-12", "install");
    mkdirSync(target, { recursive: true });
    writeFileSync(join(target, "keep.txt"), "old\n");
    const src = await fileByteSource(iso("c.iso", tree));
    const ac = new AbortController();
    const err = await explodeIso(src, target, { signal: ac.signal, progressEvery: 1, onProgress: (p) => p.bytes > 1024 * 1024 && ac.abort(new Error("stop")) })
      .catch((e) => e)
      .finally(() => src.close());
    expect(String(err?.message)).toBe("stop");
    expect(readdirSync(join(dir, "files", "debian-12"))).toEqual(["install"]);
    expect(readdirSync(target)).toEqual(["keep.txt"]);
    expect(existsSync(join(target, "install"))).toBe(false);
  });
});
